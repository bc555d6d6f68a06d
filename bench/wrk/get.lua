-- A GET with a fixed Authorization header from the environment (AUTH: "Bearer …" or "Basic …").
local auth = os.getenv("AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
