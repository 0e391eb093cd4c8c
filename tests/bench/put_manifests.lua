-- wrk script: manifest PUTs cycling over 1,000 tags (threads interleave), for a PUT rate.
-- Arguments: the path prefix (/v2/<name>/manifests/), the thread count, the manifest file.
local nthreads = 0
function setup(thread)
  thread:set("offset", nthreads)
  nthreads = nthreads + 1
  thread:set("stride", 0)
end
function init(args)
  prefix = args[1]
  stride = tonumber(args[2])
  local f = io.open(args[3], "rb"); wrk.body = f:read("*a"); f:close()
  wrk.method = "PUT"
  n = offset
end
function request()
  n = n + stride
  return wrk.format(nil, prefix .. string.format("t%04d", n % 1000))
end
function response(status, headers, body)
  if status ~= 201 then print("status " .. status .. " " .. body) end
end
