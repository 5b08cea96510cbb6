COMMAND=bench/run\ --quick\ --workloads\ 1\,2
WHEN=2026-12-04T21:49Z
MINUTES=4
status=0
