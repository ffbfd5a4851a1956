module commvq.dev/capi/go

go 1.19
