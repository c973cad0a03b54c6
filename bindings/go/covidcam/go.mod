module covidcam

go 1.19
