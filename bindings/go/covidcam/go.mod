module github.com/covidcam/libcovidcam/bindings/go/covidcam

go 1.19
