import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Env } from '@agent-fleet/contract';
import { ConfigError, errorText } from './errors';
import type { AgentHandler } from './worker';

/**
 * Loads the handler module named by AGENT_HANDLER: its default export is the handler. Works for
 * ES modules (`export default`), CommonJS (`module.exports = fn`) and CommonJS compiled from
 * TypeScript (`exports.default = fn`). Relative paths resolve against the working directory.
 */
export async function loadHandler(spec: string | undefined): Promise<AgentHandler> {
  const variable = Env.AGENT_HANDLER;
  if (spec === undefined || spec.trim() === '') {
    throw new ConfigError([
      {
        variable,
        value: undefined,
        message:
          'is required; set it to the path of a JS module whose default export is the handler, e.g. /app/handler.js',
      },
    ]);
  }
  const file = path.resolve(spec.trim());
  if (!existsSync(file)) {
    throw new ConfigError([
      { variable, value: spec, message: `no such file (${file}); build the handler or fix the path` },
    ]);
  }
  let mod: Record<string, unknown>;
  try {
    // Kept as a real import() in the CommonJS output (module node16), so ES modules load too.
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError([
      { variable, value: spec, message: `the module failed to load: ${errorText(error)}` },
    ]);
  }
  let handler: unknown = mod.default;
  if (
    typeof handler === 'object' &&
    handler !== null &&
    typeof (handler as { default?: unknown }).default === 'function'
  ) {
    handler = (handler as { default: unknown }).default;
  }
  if (typeof handler !== 'function') {
    throw new ConfigError([
      {
        variable,
        value: spec,
        message:
          'has no default export function; write `export default async function handler(input, ctx) { … }`',
      },
    ]);
  }
  return handler as AgentHandler;
}
