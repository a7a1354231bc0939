-- http_bench_post.lua - wrk script for bench/http_bench.sh: POST one payload file.
--
-- wrk runs this top level once per thread, before it formats the request, so
-- the body is read once and every request is the same bytes. Environment:
--   HB_BODY      path of the request body (required)
--   HB_ENCODING  Content-Encoding to send, e.g. "gzip" (optional)
-- No response() callback: defining one makes wrk parse every answer in Lua.
-- wrk itself counts non-2xx/3xx answers and socket errors, which the shell
-- script checks.
local path = assert(os.getenv("HB_BODY"), "HB_BODY is not set")
local f = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/x-protobuf"
local enc = os.getenv("HB_ENCODING")
if enc and enc ~= "" then
  wrk.headers["Content-Encoding"] = enc
end
