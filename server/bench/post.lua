-- wrk script: POST the image named by $BENCH_IMAGE as image/png.
wrk.method = "POST"
wrk.headers["Content-Type"] = "image/png"
local f = assert(io.open(os.getenv("BENCH_IMAGE"), "rb"))
wrk.body = f:read("*a")
f:close()
