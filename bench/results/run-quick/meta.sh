COMMAND=bench/run\ --quick
WHEN=2026-11-22T03:34Z
MINUTES=4
status=1
