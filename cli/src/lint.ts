/**
 * `agent-fleet lint FILE...`: the manifest validator of `@agent-fleet/validate` over YAML or JSON files
 * (or standard input). Findings are grouped by object; `--format json` prints them as data. Exit 1 when
 * any finding is an error, 2 when an input cannot be read or parsed, 0 otherwise (warnings only).
 */
import { readFile } from 'node:fs/promises';
import { formatFindings, type ValidationResult, validateManifests } from '@agent-fleet/validate';
import { parseAllDocuments } from 'yaml';
import { CliExit, type CommandIo, usageError, writeLine } from './io';

/** Standard input, for `agent-fleet lint -` (and `lint` without files when input is piped). */
export interface StdinSource {
  readonly stdin?: NodeJS.ReadableStream & { readonly isTTY?: boolean };
}

export interface LintFlags {
  readonly format?: string;
  readonly rule?: string;
  readonly skip?: string;
}

/** One object read from an input, with where it came from. */
interface Sourced {
  readonly object: unknown;
  /** `file.yaml#2`: the file (or `-`) and the document's position in it, from 1. */
  readonly source: string;
}

async function readStdin(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

/** The objects of a YAML (or JSON) stream; a `List` stands for its items. */
function parseObjects(text: string, name: string): Sourced[] {
  const out: Sourced[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    const source = `${name}#${i + 1}`;
    const error = doc.errors[0];
    if (error) throw usageError(`cannot parse ${source}: ${error.message.split('\n')[0]}`);
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    const list = value as { kind?: unknown; items?: unknown };
    if (typeof list.kind === 'string' && list.kind.endsWith('List') && Array.isArray(list.items)) {
      for (const [j, item] of list.items.entries())
        out.push({ object: item, source: `${source}.items[${j}]` });
    } else out.push({ object: value, source });
  });
  return out;
}

const idList = (value: string | undefined) =>
  value === undefined
    ? undefined
    : value
        .split(/[\s,]+/)
        .filter((id) => id !== '')
        .map((id) => id.toUpperCase());

export async function runLint(
  files: readonly string[],
  flags: LintFlags,
  io: CommandIo & StdinSource,
): Promise<number> {
  const format = flags.format ?? 'text';
  if (format !== 'text' && format !== 'json')
    throw usageError(`--format must be text or json, got "${format}".`);
  const inputs = files.length > 0 ? files : ['-'];
  if (files.length === 0 && (!io.stdin || io.stdin.isTTY)) {
    throw usageError(
      'give manifest files (YAML or JSON), or pipe them in: agent-fleet lint - < fleet.k8s.yaml',
    );
  }
  const objects: Sourced[] = [];
  for (const file of inputs) {
    let text: string;
    try {
      if (file === '-') {
        if (!io.stdin) throw new Error('no standard input');
        text = await readStdin(io.stdin);
      } else text = await readFile(file, 'utf8');
    } catch (error) {
      throw usageError(`cannot read ${file}: ${(error as Error).message}`);
    }
    objects.push(...parseObjects(text, file));
  }

  let result: ValidationResult;
  try {
    result = validateManifests(
      objects.map((o) => o.object),
      { rules: idList(flags.rule), skip: idList(flags.skip) },
    );
  } catch (error) {
    throw usageError((error as Error).message);
  }
  const sourceOf = (index: number) => objects[index]?.source;
  if (format === 'json') {
    const withSource = <T extends { object: { index: number } }>(list: readonly T[]) =>
      list.map((item) => ({ ...item, source: sourceOf(item.object.index) }));
    writeLine(
      io.stdout,
      JSON.stringify(
        {
          findings: withSource(result.findings),
          suppressed: withSource(result.suppressed),
          notes: withSource(result.notes),
          errors: result.errors,
          warnings: result.warnings,
          objects: objects.length,
        },
        null,
        2,
      ),
    );
  } else {
    writeLine(io.stdout, formatFindings(result, { sourceOf }));
  }
  return result.errors > 0 ? CliExit.failure : CliExit.ok;
}
