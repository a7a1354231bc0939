-- http_bench_post.lua - wrk script for bench/http_bench.sh: POST one payload file.
--
-- wrk runs this top level once per thread, before it formats the request, so
-- the body is read once and every request is the same bytes. Environment:
--   HB_BODY      path of the request body (required)
--   HB_ENCODING  Content-Encoding to send, e.g. "gzip" (optional)
--   HB_DELAY_MS  pause before each request (optional; see the end)
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
-- HB_DELAY_MS (optional): wait this long before each request on a
-- connection, for a steady load below saturation (bench/pipeline_bench.sh).
local delay_ms = tonumber(os.getenv("HB_DELAY_MS") or "")
if delay_ms then
  function delay() return delay_ms end
end
