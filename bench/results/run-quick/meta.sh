COMMAND=bench/run\ --quick\ --workloads\ 1\,2
WHEN=2026-12-05T05:46Z
MINUTES=4
status=0
