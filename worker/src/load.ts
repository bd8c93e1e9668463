import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Env } from '@agent-fleet/contract';
import { ConfigError, errorText } from './errors';
import type { AgentHandler } from './worker';

/**
 * Whether Node takes `file` as an ES module: `.mjs`, or `.js` in a package whose nearest
 * package.json says `"type": "module"` (Node's own rule; read at startup, once).
 */
function isEsModule(file: string): boolean {
  if (file.endsWith('.mjs')) return true;
  if (!file.endsWith('.js')) return false;
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    try {
      return (
        (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { type?: unknown }).type ===
        'module'
      );
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || path.dirname(dir) === dir) return false;
    }
  }
}

/**
 * The module's namespace as `import()` gives it (a CommonJS module's `module.exports` is its
 * `default`). CommonJS is loaded with `require`: the first `import()` of a process sets up Node's
 * ES module loader, a cost a worker's start need not pay for a CommonJS handler. ES modules go
 * through `import()`, and so does a `.js` file with module syntax in no `"type": "module"`
 * package (Node may detect it), found by `require` failing to parse it, before any of it ran.
 */
async function loadModule(file: string): Promise<Record<string, unknown>> {
  if (!isEsModule(file)) {
    try {
      return { default: require(file) as unknown };
    } catch (error) {
      const parsedNot = error instanceof SyntaxError && String(error.stack).startsWith(`${file}:`);
      if (!parsedNot) throw error;
    }
  }
  // Kept as a real import() in the CommonJS output (module node16), so ES modules load too.
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

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
    mod = await loadModule(file);
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
