-- wrk script: pages of tags/list (n, last) at random places in a repository whose tags are
-- v000001 ... v<count>, so that no page is one a worker kept. Arguments: the path
-- (/v2/<name>/tags/list), the tag count, n.
function init(args)
  path = args[1]
  count = tonumber(args[2])
  n = args[3]
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end
function request()
  local last = string.format("v%06d", math.random(1, count - 1))
  return wrk.format("GET", path .. "?n=" .. n .. "&last=" .. last)
end
function response(status, headers, body)
  if status ~= 200 then print("status " .. status .. " " .. body) end
end
