module github.com/covidcam/libcovidcam/bindings/go/cmd

go 1.19

require github.com/covidcam/libcovidcam/bindings/go/covidcam v0.0.0

replace github.com/covidcam/libcovidcam/bindings/go/covidcam => ../covidcam
