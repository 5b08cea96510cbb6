COMMAND=bench/run\ --quick\ --workloads\ 1\,2\ --slapd-log\ none
WHEN=2026-12-05T18:53Z
MINUTES=4
status=0
