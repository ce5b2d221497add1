-- {"goals":[...]} -> [...]; errors and other bodies pass unchanged.
function envoy_on_response(handle)
  local headers = handle:headers()
  local content_type = headers:get("content-type") or ""
  if headers:get(":status") ~= "200"
      or not string.find(content_type, "application/json", 1, true) then
    return
  end
  local body = handle:body()
  if body == nil then return end
  local text = body:getBytes(0, body:length())
  local goals = string.match(text, '^%s*{%s*"goals"%s*:%s*(%b[])%s*}%s*$')
  if goals == nil and string.match(text, '^%s*{%s*}%s*$') then
    goals = "[]"
  end
  if goals ~= nil then
    body:setBytes(goals)
  end
end
