COMMAND=bench/run\ --quick\ --workloads\ 1\,2
WHEN=2026-12-05T06:02Z
MINUTES=4
status=0
