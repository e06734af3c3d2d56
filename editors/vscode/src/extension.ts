/**
 * repomend for VS Code: starts `repomend lsp` for Python files and hands it the "repomend"
 * settings. The code actions ("Fix this method", "Fix this method (think)"), their progress and
 * the verified edit come from the language server; the client only adds palette commands.
 * The server's own commands (repomend.fixMethod, repomend.rejectLastFix) are registered by
 * vscode-languageclient from the server's executeCommandProvider, so they are not registered here.
 */

import * as path from "path";
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from "vscode-languageclient/node";

import { ActionCommand, pickFixCommand, SECTION, serverCommand, ServerSettings, serverSettings } from "./settings";

let client: LanguageClient | undefined;

/** The settings for the folder holding `scope` (the first workspace folder when none is given). */
function settingsFor(scope?: vscode.Uri): ServerSettings {
  const config = vscode.workspace.getConfiguration(SECTION, scope);
  const folder = scope ? vscode.workspace.getWorkspaceFolder(scope) : vscode.workspace.workspaceFolders?.[0];
  return serverSettings((key) => config.get(key), folder ? path.basename(folder.uri.fsPath) : undefined);
}

function createClient(): LanguageClient {
  const { command, args } = serverCommand((key) => vscode.workspace.getConfiguration(SECTION).get(key));
  const serverOptions: ServerOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file", language: "python" }],
    synchronize: { configurationSection: SECTION },
    initializationOptions: settingsFor(),
    middleware: {
      workspace: {
        // Answer workspace/configuration for "repomend" with the same normalised shape as
        // initializationOptions (defaults filled in, empty strings left out).
        configuration: async (params, token, next) => {
          const answers = await next(params, token);
          if (!Array.isArray(answers)) {
            return answers;
          }
          return params.items.map((item, index) =>
            item.section === SECTION
              ? settingsFor(item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined)
              : answers[index],
          );
        },
      },
    },
  };
  return new LanguageClient("repomend", "repomend", serverOptions, clientOptions);
}

async function start(): Promise<void> {
  const next = createClient();
  client = next;
  try {
    await next.start();
  } catch (error) {
    const { command } = serverCommand((key) => vscode.workspace.getConfiguration(SECTION).get(key));
    void vscode.window.showErrorMessage(
      `repomend: could not start \`${command} lsp\` (${String(error)}). Set "repomend.command" to the repomend executable.`,
    );
  }
}

async function restart(): Promise<void> {
  const previous = client;
  client = undefined;
  if (previous?.isRunning()) {
    await previous.stop();
  }
  await start();
}

/** "Fix this method" from the palette: runs the server's code action at the cursor in the configured mode. */
async function fixMethodAtCursor(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== "python") {
    void vscode.window.showInformationMessage("repomend: put the cursor inside a Python method first.");
    return;
  }
  const position = editor.selection.active;
  const actions =
    (await vscode.commands.executeCommand<(vscode.CodeAction | vscode.Command)[]>(
      "vscode.executeCodeActionProvider",
      editor.document.uri,
      new vscode.Range(position, position),
    )) ?? [];
  const commands: ActionCommand[] = [];
  for (const action of actions) {
    if (typeof action.command === "string") {
      commands.push(action as vscode.Command);
    } else if (action.command) {
      commands.push(action.command);
    }
  }
  const fix = pickFixCommand(commands, settingsFor(editor.document.uri).mode);
  if (!fix) {
    void vscode.window.showInformationMessage("repomend: no method to fix at the cursor.");
    return;
  }
  await vscode.commands.executeCommand(fix.command, ...(fix.arguments ?? []));
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.commands.registerCommand("repomend.fixMethodAtCursor", fixMethodAtCursor),
    vscode.commands.registerCommand("repomend.restartServer", restart),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(`${SECTION}.command`)) {
        void restart();
      }
    }),
  );
  // Awaited so that commands run from the palette find the server's commands registered.
  await start();
}

export async function deactivate(): Promise<void> {
  if (client?.isRunning()) {
    await client.stop();
  }
}
