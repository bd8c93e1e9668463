/**
 * `agent-fleet results DIR`: the outcomes of a batch run from task files (the worker's file mode),
 * read from the result files in a copy of its checkpoint store: one `<sha256>.result.json` per
 * task, holding exactly a `ResultMessage`. Prints a table, JSON or JSON Lines, or writes them to a
 * file; a file that is not a usable result is reported and counted, never fatal. Exit 0 when every
 * result succeeded, 1 when a result failed, a file was unusable or none was found, 2 on bad flags
 * or an unreadable directory.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  RESULT_FILE_SUFFIX,
  type ResultMessage,
  resultFileNameFor,
  type TaskStatus,
  TaskStatuses,
} from '@agent-fleet/contract';
import { CliExit, type CommandIo, usageError, writeLine } from './io';

export interface ResultsFlags {
  readonly format?: string;
  readonly status?: string;
  readonly out?: string;
}

/** A file the command could not use as a result, and why. */
export interface UnusableResultFile {
  readonly file: string;
  readonly problem: string;
}

export interface ResultsReport {
  /** Every usable result, sorted by task id. */
  readonly results: readonly ResultMessage[];
  readonly unusable: readonly UnusableResultFile[];
  readonly counts: { readonly succeeded: number; readonly failed: number; readonly unusable: number };
}

const FORMATS = ['table', 'json', 'jsonl'] as const;
type Format = (typeof FORMATS)[number];

/** Why `value` is not a `ResultMessage`, or undefined when it is one. */
export function resultMessageProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'is not a JSON object';
  }
  const record = value as Record<string, unknown>;
  if (typeof record.id !== 'string' || record.id === '') {
    return 'has no task "id" (a non-empty string)';
  }
  const statuses: readonly unknown[] = Object.values(TaskStatuses);
  if (!statuses.includes(record.status)) {
    return `has "status" ${JSON.stringify(record.status)}, not one of ${statuses.join(', ')}`;
  }
  if (!Number.isInteger(record.attempts) || (record.attempts as number) < 0) {
    return 'has no "attempts" (a whole number)';
  }
  if (record.error !== undefined && typeof record.error !== 'string') {
    return 'has an "error" that is not a string';
  }
  const known = new Set(['id', 'status', 'output', 'error', 'attempts']);
  const foreign = Object.keys(record).filter((key) => !known.has(key));
  if (foreign.length > 0) {
    return `has fields a result does not have: ${foreign.join(', ')}`;
  }
  return undefined;
}

/**
 * Reads every `*.result.json` in `dir` (not its subdirectories; the worker's temp files, which
 * start with a dot, are left out). A file that does not parse, is not a result, or is not named
 * after its own task id (renamed, or copied from another store) is listed as unusable.
 */
export async function readResults(dir: string): Promise<ResultsReport> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (error) {
    throw usageError(`cannot read the directory ${dir}: ${(error as Error).message}`);
  }
  const results: ResultMessage[] = [];
  const unusable: UnusableResultFile[] = [];
  for (const name of names.filter((n) => n.endsWith(RESULT_FILE_SUFFIX) && !n.startsWith('.')).sort()) {
    const file = path.join(dir, name);
    let value: unknown;
    try {
      value = JSON.parse(await fs.readFile(file, 'utf8'));
    } catch (error) {
      const cause =
        error instanceof SyntaxError ? `not valid JSON (${error.message})` : (error as Error).message;
      unusable.push({ file, problem: cause });
      continue;
    }
    const problem = resultMessageProblem(value);
    if (problem !== undefined) {
      unusable.push({ file, problem: `not a result: it ${problem}` });
      continue;
    }
    const result = value as ResultMessage;
    if (resultFileNameFor(result.id) !== name) {
      unusable.push({
        file,
        problem: `holds the result of task ${JSON.stringify(result.id)}, whose result file is ${resultFileNameFor(result.id)}: renamed or copied from elsewhere`,
      });
      continue;
    }
    results.push(result);
  }
  results.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const succeeded = results.filter((r) => r.status === TaskStatuses.succeeded).length;
  return {
    results,
    unusable,
    counts: { succeeded, failed: results.length - succeeded, unusable: unusable.length },
  };
}

/** One line of text: newlines and tabs as spaces, at most `max` characters. */
function cell(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function summaryLine(report: ResultsReport, shown: number): string {
  const { succeeded, failed, unusable } = report.counts;
  const total = succeeded + failed;
  const parts = [`${total} result(s): ${succeeded} succeeded, ${failed} failed`];
  if (unusable > 0) parts.push(`${unusable} unusable file(s)`);
  if (shown !== total) parts.push(`${shown} shown`);
  return parts.join('; ');
}

function tableText(results: readonly ResultMessage[]): string {
  const rows = results.map((r) => [
    r.status,
    String(r.attempts),
    cell(r.id, 60),
    cell(r.status === TaskStatuses.failed ? (r.error ?? '') : (JSON.stringify(r.output) ?? ''), 100),
  ]);
  const header = ['STATUS', 'ATTEMPTS', 'ID', 'OUTPUT / ERROR'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  return [header, ...rows]
    .map((row) =>
      row
        .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

function render(format: Format, report: ResultsReport, shown: readonly ResultMessage[]): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify({ results: shown, unusable: report.unusable, counts: report.counts }, null, 2)}\n`;
    case 'jsonl':
      return shown.map((r) => `${JSON.stringify(r)}\n`).join('');
    case 'table':
      return `${tableText(shown)}${summaryLine(report, shown.length)}\n`;
  }
}

export async function runResults(dir: string, flags: ResultsFlags, io: CommandIo): Promise<number> {
  const format = (flags.format ?? 'table') as Format;
  if (!FORMATS.includes(format)) {
    throw usageError(`--format must be one of ${FORMATS.join(', ')}, got "${flags.format}".`);
  }
  const statuses: readonly string[] = Object.values(TaskStatuses);
  if (flags.status !== undefined && !statuses.includes(flags.status)) {
    throw usageError(`--status must be one of ${statuses.join(', ')}, got "${flags.status}".`);
  }
  const report = await readResults(dir);
  const shown =
    flags.status === undefined
      ? report.results
      : report.results.filter((r) => r.status === (flags.status as TaskStatus));
  for (const { file, problem } of report.unusable) {
    writeLine(io.stderr, `agent-fleet: cannot use ${file}: ${problem}`);
  }
  const text = render(format, report, shown);
  if (flags.out !== undefined) {
    try {
      await fs.writeFile(flags.out, text);
    } catch (error) {
      throw usageError(`cannot write ${flags.out}: ${(error as Error).message}`);
    }
    writeLine(io.stdout, `wrote ${shown.length} result(s) to ${flags.out}`);
    writeLine(io.stdout, summaryLine(report, shown.length));
  } else {
    io.stdout.write(text);
    if (format !== 'table') writeLine(io.stderr, summaryLine(report, shown.length));
  }
  if (report.results.length === 0 && report.unusable.length === 0) {
    writeLine(
      io.stderr,
      `agent-fleet: no result files (*${RESULT_FILE_SUFFIX}) in ${dir}; is it a copy of the checkpoint store of a file-mode batch?`,
    );
    return CliExit.failure;
  }
  return report.counts.failed > 0 || report.counts.unusable > 0 ? CliExit.failure : CliExit.ok;
}
