/**
 * Just enough of the Dockerfile and .dockerignore formats to check a Dockerfile without a Docker
 * engine: instructions (continuations joined, comments dropped), stages, ARG defaults and their
 * `${NAME}`, `${NAME:-word}`, `${NAME:+word}` and `${NAME:?message}` expansions in FROM lines, and
 * .dockerignore patterns.
 */
import { readFileSync } from 'node:fs';

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, ... */
  readonly keyword: string;
  /** The rest of the instruction, continuation lines joined with single spaces. */
  readonly args: string;
  /** 1-based line of the keyword. */
  readonly line: number;
}

export interface Stage {
  /** The FROM argument as written, e.g. `node:${NODE_TAG}@${NODE_DIGEST:?...}`. */
  readonly from: string;
  /** `AS <name>`, if any. */
  readonly name?: string;
  readonly instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults (undefined when none). */
  readonly globalArgs: Map<string, string | undefined>;
  readonly stages: Stage[];
}

export function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  let current: { parts: string[]; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw.startsWith('#')) continue;
    if (raw === '' && !current) continue;
    const continued = raw.endsWith('\\');
    const body = continued ? raw.slice(0, -1).trim() : raw;
    if (!current) current = { parts: [], line: i + 1 };
    if (body !== '') current.parts.push(body);
    if (!continued) {
      const joined = current.parts.join(' ');
      const match = /^(\S+)\s*(.*)$/.exec(joined);
      if (match) out.push({ keyword: match[1].toUpperCase(), args: match[2], line: current.line });
      current = undefined;
    }
  }
  return out;
}

export function parseDockerfile(file: string): Dockerfile {
  const globalArgs = new Map<string, string | undefined>();
  const stages: Stage[] = [];
  for (const instruction of parseInstructions(readFileSync(file, 'utf8'))) {
    if (instruction.keyword === 'FROM') {
      const match = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      if (!match) throw new Error(`${file}:${instruction.line}: cannot parse FROM ${instruction.args}`);
      stages.push({ from: match[1], name: match[2], instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword === 'ARG') {
        const [name, ...rest] = instruction.args.split('=');
        globalArgs.set(name.trim(), rest.length > 0 ? rest.join('=') : undefined);
      }
    } else {
      stages[stages.length - 1].instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

export interface Expansion {
  readonly value: string;
  /** ARGs that `${NAME:?...}` requires and that have no default (the build stops until they are set). */
  readonly required: string[];
}

/**
 * Expands `${...}` in a FROM argument with the global ARG defaults (and `overrides`, like
 * `--build-arg`). A required ARG without a value expands to `<NAME>` and is listed in `required`.
 */
export function expandArgs(
  text: string,
  args: Map<string, string | undefined>,
  overrides: Record<string, string> = {},
): Expansion {
  const required: string[] = [];
  const value = text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_whole, braced: string | undefined, op: string | undefined, word: string | undefined, bare) => {
      const name = braced ?? (bare as string);
      const set = overrides[name] ?? args.get(name);
      const empty = set === undefined || set === '';
      switch (op?.replace(':', '')) {
        case undefined:
          return set ?? '';
        case '-':
          return empty ? (word ?? '') : set;
        case '+':
          return empty ? '' : (word ?? '');
        default: // '?'
          if (empty) {
            required.push(name);
            return `<${name}>`;
          }
          return set;
      }
    },
  );
  return { value, required };
}

export interface ImageReference {
  readonly repository: string;
  /** undefined when the reference has no tag (Docker then uses `latest`). */
  readonly tag?: string;
  /** The `@...` part, when pinned by digest (or by a required digest ARG). */
  readonly digest?: string;
}

export function parseImageReference(reference: string): ImageReference {
  const [nameAndTag, digest] = reference.split('@', 2);
  const slash = nameAndTag.lastIndexOf('/');
  const colon = nameAndTag.lastIndexOf(':');
  if (colon > slash) {
    return { repository: nameAndTag.slice(0, colon), tag: nameAndTag.slice(colon + 1), digest };
  }
  return { repository: nameAndTag, digest };
}

/** The external base images of a Dockerfile: every FROM that is not an earlier stage's name. */
export function baseImages(
  dockerfile: Dockerfile,
  overrides: Record<string, string> = {},
): { stage: Stage; reference: ImageReference; required: string[] }[] {
  const names = new Set<string>();
  const out: { stage: Stage; reference: ImageReference; required: string[] }[] = [];
  for (const stage of dockerfile.stages) {
    if (!names.has(stage.from)) {
      const expansion = expandArgs(stage.from, dockerfile.globalArgs, overrides);
      out.push({ stage, reference: parseImageReference(expansion.value), required: expansion.required });
    }
    if (stage.name) names.add(stage.name);
  }
  return out;
}

/**
 * A .dockerignore matcher: `*`, `?` and `**` patterns, `!` exceptions, last match wins; a path is
 * ignored when it or one of its parent directories matches.
 */
export function dockerignore(text: string): (relativePath: string) => boolean {
  const rules = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!');
      const pattern = (negate ? line.slice(1) : line).replace(/^\/+/, '').replace(/\/+$/, '');
      let source = '';
      for (let i = 0; i < pattern.length; i++) {
        const ch = pattern[i];
        if (ch === '*' && pattern[i + 1] === '*') {
          source += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*';
          i += pattern[i + 2] === '/' ? 2 : 1;
        } else if (ch === '*') {
          source += '[^/]*';
        } else if (ch === '?') {
          source += '[^/]';
        } else {
          source += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
        }
      }
      return { negate, regex: new RegExp(`^${source}$`) };
    });
  return (relativePath: string) => {
    const parts = relativePath.split('/');
    let ignored = false;
    for (let n = 1; n <= parts.length; n++) {
      const prefix = parts.slice(0, n).join('/');
      for (const rule of rules) {
        if (rule.regex.test(prefix)) ignored = !rule.negate;
      }
      if (ignored) return true;
    }
    return ignored;
  };
}
