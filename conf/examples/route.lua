-- Names the route for conf/examples/route-by-lua.conf: requests with the
-- header "X-Plan: premium" go to the premium member, a beta=1 query
-- parameter to the beta member; anything else is left to the lbmethod.
function pick(r)
    local plan = r.headers_in["X-Plan"]
    if plan == "premium" then
        r.subprocess_env["LUA_ROUTE"] = "premium"
    elseif r:parseargs()["beta"] == "1" then
        r.subprocess_env["LUA_ROUTE"] = "beta"
    end
    return apache2.DECLINED
end
