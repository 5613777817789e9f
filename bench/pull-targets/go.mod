module profcol.dev/bench/pull-targets

go 1.22
