-- repomend for Neovim's built-in LSP client (Neovim 0.7 or newer, no plugins needed).
--
--   require("repomend").setup({ settings = { mode = "think" } })      -- file in lua/repomend.lua
--   dofile("/path/to/repomend/editors/neovim/repomend.lua").setup({}) -- or straight from a checkout
--
-- Python buffers get the language server `repomend lsp`; its code actions "Fix this method" and
-- "Fix this method (think)" appear in vim.lsp.buf.code_action(). :RepomendFix [think|no-think]
-- runs the fix at the cursor directly, :RepomendRejectLastFix rejects the last fix.

local M = {}

M.defaults = {
  -- The command that starts the language server over stdio.
  cmd = { "repomend", "lsp" },
  -- The "repomend" settings section, sent as initializationOptions and answered to
  -- workspace/configuration. nil means "the server's default".
  settings = {
    serverUrl = "http://127.0.0.1:8765",
    token = os.getenv("REPOMEND_SERVER_TOKEN"),
    repository = nil, -- registered repository name; default: the root folder's name
    adminToken = nil, -- optional: lets the server find the repository by path among the registered ones
    mode = "no-think", -- "no-think" or "think"
    maxTurns = nil, -- model turns per repair (1-10); default: the server's
  },
  -- Files or folders marking the repository root, searched upwards from the buffer's file.
  root_markers = { "pyproject.toml", "setup.py", "setup.cfg", ".git" },
  -- Show $/progress reports of the server in the message area.
  show_progress = true,
}

local NAME = "repomend"
local FIX_METHOD = "repomend.fixMethod"
local REJECT_LAST_FIX = "repomend.rejectLastFix"

local uv = vim.uv or vim.loop
local options = M.defaults
local started = {} -- root folder -> client id (Neovim 0.7, which has no vim.lsp.start)

local function notify(message, level)
  vim.notify("repomend: " .. message, level or vim.log.levels.INFO)
end

-- The server reports outcomes itself (window/showMessage); only failed requests need a word here.
local function report_error(err)
  if err then
    notify(err.message or vim.inspect(err), vim.log.levels.ERROR)
  end
end

--- The nearest folder above `path` holding one of `markers`; the file's own folder when none does.
local function find_root(path, markers)
  local start = vim.fn.fnamemodify(path, ":p:h")
  local dir = start
  while true do
    for _, marker in ipairs(markers) do
      if uv.fs_stat(dir .. "/" .. marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ":h")
    if parent == dir then
      return start
    end
    dir = parent
  end
end

--- The settings for a root folder: defaults filled in, the repository named after the folder if unset.
local function settings_for(root)
  local settings = vim.tbl_extend("force", {}, options.settings)
  if settings.repository == nil or settings.repository == "" then
    settings.repository = vim.fn.fnamemodify(root, ":t")
  end
  if settings.token == "" then
    settings.token = nil
  end
  return settings
end

local function show_progress(err, result, ctx, config)
  local default = vim.lsp.handlers["$/progress"]
  if default then
    default(err, result, ctx, config)
  end
  local value = type(result) == "table" and result.value or nil
  if type(value) ~= "table" then
    return
  end
  local text = value.message or value.title or (value.kind == "end" and "done") or nil
  if text then
    vim.api.nvim_echo({ { "repomend: " .. text } }, false, {})
  end
end

--- The repomend client attached to `bufnr` (0: the current buffer), if any.
local function client_for(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if vim.lsp.get_clients then -- 0.10+
    return vim.lsp.get_clients({ bufnr = bufnr, name = NAME })[1]
  end
  for _, client in pairs(vim.lsp.buf_get_clients(bufnr)) do
    if client.name == NAME then
      return client
    end
  end
  return nil
end

M.client = client_for

--- client:request() from Neovim 0.11 on (where client.request() is deprecated), client.request() before.
local function request(client, method, params, handler, bufnr)
  if vim.fn.has("nvim-0.11") == 1 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- Starts (or reuses) the language server for the repository of `bufnr` and attaches the buffer.
function M.start(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local path = vim.api.nvim_buf_get_name(bufnr)
  if path == "" then
    return nil
  end
  local root = find_root(path, options.root_markers)
  local settings = settings_for(root)
  local config = {
    name = NAME,
    cmd = options.cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = vim.fn.fnamemodify(root, ":t") } },
    init_options = settings,
    settings = { repomend = settings },
    handlers = options.show_progress and { ["$/progress"] = show_progress } or nil,
  }
  if vim.lsp.start then -- 0.8+: reuses a running client with the same name and root
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  -- 0.7: one client per root folder, buffers attached by hand.
  local id = started[root]
  if id == nil or vim.lsp.get_client_by_id(id) == nil then
    id = vim.lsp.start_client(config)
    started[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

--- The command of the "Fix this method" code action for `mode` (any mode when none matches).
local function pick_fix(actions, mode)
  local first
  for _, action in ipairs(actions or {}) do
    -- A code action carries a Command table; a bare Command has the command name as a string.
    local command = type(action.command) == "table" and action.command or action
    if command.command == FIX_METHOD then
      local args = command.arguments and command.arguments[1]
      if type(args) == "table" and args.mode == mode then
        return command
      end
      first = first or command
    end
  end
  return first
end

--- Fixes the method under the cursor in `mode` ("think" or "no-think"; default: settings.mode).
--- The server answers with workspace/applyEdit, which the built-in client applies to the buffer;
--- `on_done(err, result)` runs when the server has finished.
function M.fix_method(mode, on_done)
  on_done = on_done or report_error
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not client then
    on_done({ message = "the language server is not attached to this buffer" }, nil)
    return
  end
  mode = mode or options.settings.mode
  local params = vim.lsp.util.make_range_params(0, client.offset_encoding)
  params.context = { diagnostics = {} }
  request(client, "textDocument/codeAction", params, function(err, actions)
    if err then
      on_done(err, nil)
      return
    end
    local command = pick_fix(actions, mode)
    if not command then
      on_done({ message = "no method to fix at the cursor" }, nil)
      return
    end
    local execute = { command = command.command, arguments = command.arguments }
    request(client, "workspace/executeCommand", execute, function(exec_err, result)
      on_done(exec_err, result)
    end, bufnr)
  end, bufnr)
end

--- Rejects the last fix (of the method under the cursor, if it has one): the server puts the
--- original method back and records the rejection. `on_done(err, result)` runs when it is done.
function M.reject_last_fix(on_done)
  on_done = on_done or report_error
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not client then
    on_done({ message = "the language server is not attached to this buffer" }, nil)
    return
  end
  local position = vim.lsp.util.make_position_params(0, client.offset_encoding)
  local where = {
    uri = position.textDocument.uri,
    line = position.position.line,
    character = position.position.character,
  }
  local command = { command = REJECT_LAST_FIX, arguments = { where } }
  request(client, "workspace/executeCommand", command, function(err, result)
    on_done(err, result)
  end, bufnr)
end

--- Starts the server for Python buffers and defines :RepomendFix and :RepomendRejectLastFix.
function M.setup(user)
  user = user or {}
  options = {
    cmd = user.cmd or M.defaults.cmd,
    settings = vim.tbl_extend("force", M.defaults.settings, user.settings or {}),
    root_markers = user.root_markers or M.defaults.root_markers,
    show_progress = user.show_progress ~= false,
  }
  local group = vim.api.nvim_create_augroup("repomend", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = "python",
    callback = function(args)
      M.start(args.buf)
    end,
  })
  vim.api.nvim_create_user_command("RepomendFix", function(command)
    M.fix_method(command.args ~= "" and command.args or nil)
  end, {
    nargs = "?",
    complete = function()
      return { "no-think", "think" }
    end,
    desc = "repomend: fix the method under the cursor",
  })
  vim.api.nvim_create_user_command("RepomendRejectLastFix", function()
    M.reject_last_fix()
  end, { desc = "repomend: reject the last fix" })
  return M
end

return M
