/**
 * The "repomend" settings as the language server receives them.
 *
 * Pure functions (no `vscode` import) so the mapping can be unit-tested with node:test;
 * the same shape goes out as initializationOptions and as the answer to
 * workspace/configuration, so the server never sees two spellings of one setting.
 */

export const SECTION = "repomend";
export const DEFAULT_COMMAND = "repomend";
export const DEFAULT_SERVER_URL = "http://127.0.0.1:8765";
export const MAX_TURNS_LIMIT = 10;
export const MODES = ["no-think", "think"] as const;

export type Mode = (typeof MODES)[number];

/** What the language server reads from the "repomend" section. */
export interface ServerSettings {
  serverUrl: string;
  token?: string;
  adminToken?: string;
  repository?: string;
  mode: Mode;
  /** Left out when unset (0): the server then uses its engine's default. */
  maxTurns?: number;
}

/** Reads one key of the "repomend" section (e.g. `(key) => config.get(key)`). */
export type Read = (key: string) => unknown;

function text(value: unknown): string | undefined {
  if (typeof value !== "string") {
    return undefined;
  }
  const trimmed = value.trim();
  return trimmed === "" ? undefined : trimmed;
}

function mode(value: unknown): Mode {
  return MODES.includes(value as Mode) ? (value as Mode) : "no-think";
}

function maxTurns(value: unknown): number | undefined {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    return undefined;
  }
  return Math.min(value, MAX_TURNS_LIMIT);
}

/**
 * The settings sent to the server. Empty strings and a turn count of 0 count as unset and are
 * left out, so the server applies its own defaults; an unset repository falls back to the
 * workspace folder's name, the name `repomend` registers a repository under by default.
 */
export function serverSettings(read: Read, folderName?: string): ServerSettings {
  const settings: ServerSettings = {
    serverUrl: text(read("serverUrl")) ?? DEFAULT_SERVER_URL,
    mode: mode(read("mode")),
  };
  const turns = maxTurns(read("maxTurns"));
  if (turns !== undefined) {
    settings.maxTurns = turns;
  }
  const token = text(read("token"));
  if (token !== undefined) {
    settings.token = token;
  }
  const adminToken = text(read("adminToken"));
  if (adminToken !== undefined) {
    settings.adminToken = adminToken;
  }
  const repository = text(read("repository")) ?? text(folderName);
  if (repository !== undefined) {
    settings.repository = repository;
  }
  return settings;
}

/** The executable and arguments that start the language server over stdio. */
export function serverCommand(read: Read): { command: string; args: string[] } {
  return { command: text(read("command")) ?? DEFAULT_COMMAND, args: ["lsp"] };
}

/** A command as code actions carry it (the LSP `Command` shape). */
export interface ActionCommand {
  command: string;
  arguments?: unknown[];
}

export const FIX_METHOD = "repomend.fixMethod";

/**
 * Among the commands of the code actions at the cursor, the "Fix this method" one for `wanted`
 * mode (its first argument carries `mode`); the first fix of any mode when none matches.
 */
export function pickFixCommand(commands: ActionCommand[], wanted: Mode): ActionCommand | undefined {
  const fixes = commands.filter((command) => command.command === FIX_METHOD);
  const sameMode = fixes.find((command) => {
    const first = command.arguments?.[0];
    return typeof first === "object" && first !== null && (first as { mode?: unknown }).mode === wanted;
  });
  return sameMode ?? fixes[0];
}
