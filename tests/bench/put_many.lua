-- wrk script: PUTs of distinct manifests, each once, under a tag of its own, spread over the
-- repositories given (threads interleave). Arguments: a file of manifests (one per line), the
-- thread count, then the /v2/<name>/manifests/ prefixes of the repositories.
local nthreads = 0
function setup(thread)
  thread:set("offset", nthreads)
  nthreads = nthreads + 1
end
function init(args)
  bodies = {}
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  stride = tonumber(args[2])
  prefixes = {}
  for i = 3, #args do prefixes[#prefixes + 1] = args[i] end
  wrk.method = "PUT"
  n = offset
end
function request()
  local i = n % #bodies
  n = n + stride
  local prefix = prefixes[(i % #prefixes) + 1]
  return wrk.format(nil, prefix .. string.format("m%06d", i), nil, bodies[i + 1])
end
function response(status, headers, body)
  if status ~= 201 then print("status " .. status .. " " .. body) end
end
