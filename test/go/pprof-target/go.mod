module profcol.test/pprof-target

go 1.21
