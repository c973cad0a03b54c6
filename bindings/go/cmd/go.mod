module covidcam/cmd

go 1.19

require covidcam v0.0.0

replace covidcam => ../covidcam
