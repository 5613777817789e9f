module profcol.test/workload

go 1.21
