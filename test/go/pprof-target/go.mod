module profcol.test/pprof-target

go 1.21

require profcol.test/workload v0.0.0

replace profcol.test/workload => ../workload
