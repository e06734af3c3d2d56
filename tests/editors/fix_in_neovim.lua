-- Drives headless Neovim like a user: loads editors/neovim/repomend.lua, opens a file, puts the
-- cursor in a method, runs "Fix this method" through the built-in LSP client (which applies the
-- server's workspace/applyEdit itself), optionally "Reject last fix", writes the file and quits.
-- Everything it saw goes to a JSON report for the pytest side. Inputs come from REPOMEND_NVIM_*
-- environment variables (REPOMEND_NVIM_REJECT=1 adds the rejection).

local report = { seconds = {} }
local t0 = (vim.uv or vim.loop).hrtime()

--- Seconds since Neovim started, kept in the report under `step`.
local function mark(step)
  report.seconds[step] = ((vim.uv or vim.loop).hrtime() - t0) / 1e9
end

local function env(name)
  local value = os.getenv("REPOMEND_NVIM_" .. name)
  assert(value ~= nil and value ~= "", "REPOMEND_NVIM_" .. name .. " is not set")
  return value
end

local function finish(failure)
  report.failure = failure
  vim.fn.writefile({ vim.fn.json_encode(report) }, env("REPORT"))
  vim.cmd(failure and "cquit 1" or "qall!")
end

local function text(bufnr)
  return table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n")
end

--- Runs `start(done)` and waits until it calls `done(err, result)`; returns the result.
local function await(start, what)
  local finished, failure, answer = false, nil, nil
  start(function(err, result)
    finished, failure, answer = true, err, result
  end)
  if not vim.wait(tonumber(env("TIMEOUT_MS")), function()
    return finished
  end, 50) then
    error("no answer from the language server to " .. what .. " in time")
  end
  if failure ~= nil and failure ~= vim.NIL then
    error(what .. " failed: " .. vim.inspect(failure))
  end
  return answer
end

local function run()
  local repomend = dofile(env("SNIPPET"))
  repomend.setup({ cmd = vim.fn.json_decode(env("CMD")), settings = vim.fn.json_decode(env("SETTINGS")) })

  vim.cmd("edit " .. vim.fn.fnameescape(env("FILE")))
  local bufnr = vim.api.nvim_get_current_buf()
  report.filetype = vim.bo[bufnr].filetype

  local client
  local started = vim.wait(30000, function()
    client = repomend.client(bufnr)
    return client ~= nil and client.server_capabilities ~= nil
  end, 50)
  if not started then
    error("the language server did not start and initialize within 30 s")
  end
  report.client = client.name
  mark("initialized")

  vim.api.nvim_win_set_cursor(0, { tonumber(env("LINE")), tonumber(env("COLUMN")) })
  local original = text(bufnr)
  report.fix = await(function(done)
    repomend.fix_method(env("MODE"), done)
  end, "Fix this method")
  report.fixed_text = text(bufnr)
  report.changed = report.fixed_text ~= original
  mark("fixed")
  if os.getenv("REPOMEND_NVIM_REJECT") == "1" then
    report.reject = await(repomend.reject_last_fix, "Reject last fix")
    report.restored = text(bufnr) == original
    mark("rejected")
  end
  vim.cmd("write")
  mark("written")
end

vim.api.nvim_create_autocmd("VimEnter", {
  once = true,
  nested = true, -- so that :edit fires FileType, which starts the language server
  callback = function()
    local ok, err = pcall(run)
    finish(not ok and tostring(err) or nil)
  end,
})
