import * as assert from "node:assert/strict";
import { test } from "node:test";

import { pickFixCommand, serverCommand, serverSettings } from "../settings";

function reader(values: Record<string, unknown>) {
  return (key: string) => values[key];
}

test("unset settings give the server's defaults and the folder name as repository", () => {
  assert.deepEqual(serverSettings(reader({}), "shop"), {
    serverUrl: "http://127.0.0.1:8765",
    mode: "no-think",
    repository: "shop",
  });
});

test("configured settings pass through, trimmed; the command stays with the client", () => {
  const settings = serverSettings(
    reader({
      serverUrl: " https://fix.example:9000 ",
      token: "s3cret",
      adminToken: "adm1n",
      repository: "core",
      mode: "think",
      maxTurns: 3,
      command: "/opt/bin/repomend",
    }),
    "checkout",
  );
  assert.deepEqual(settings, {
    serverUrl: "https://fix.example:9000",
    token: "s3cret",
    adminToken: "adm1n",
    repository: "core",
    mode: "think",
    maxTurns: 3,
  });
});

test("empty strings count as unset and are left out", () => {
  const settings = serverSettings(reader({ serverUrl: "", token: "  ", adminToken: "", repository: "" }));
  assert.equal(settings.serverUrl, "http://127.0.0.1:8765");
  assert.ok(!("token" in settings));
  assert.ok(!("adminToken" in settings));
  assert.ok(!("repository" in settings));
});

test("invalid mode and turn counts fall back to safe values", () => {
  assert.equal(serverSettings(reader({ mode: "deep" })).mode, "no-think");
  assert.ok(!("maxTurns" in serverSettings(reader({ maxTurns: 0 }))), "0 leaves the turns to the server");
  assert.ok(!("maxTurns" in serverSettings(reader({ maxTurns: 2.5 }))));
  assert.equal(serverSettings(reader({ maxTurns: 99 })).maxTurns, 10);
});

test("the server starts as `<command> lsp`", () => {
  assert.deepEqual(serverCommand(reader({})), { command: "repomend", args: ["lsp"] });
  assert.deepEqual(serverCommand(reader({ command: "/opt/bin/repomend" })), {
    command: "/opt/bin/repomend",
    args: ["lsp"],
  });
});

test("the palette fix picks the code action of the configured mode", () => {
  const at = { uri: "file:///r/a.py", line: 3, character: 4, version: 1 };
  const noThink = { command: "repomend.fixMethod", arguments: [{ ...at, mode: "no-think" }] };
  const think = { command: "repomend.fixMethod", arguments: [{ ...at, mode: "think" }] };
  const other = { command: "python.sortImports" };
  assert.equal(pickFixCommand([other, noThink, think], "think"), think);
  assert.equal(pickFixCommand([other, noThink, think], "no-think"), noThink);
  assert.equal(pickFixCommand([other, think], "no-think"), think);
  assert.equal(pickFixCommand([other], "no-think"), undefined);
});
