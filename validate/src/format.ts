/** Human-readable output: findings grouped by object, each with its rule, severity, field and fix. */
import { describeRef } from './manifest';
import type { Finding, ValidationResult } from './validate';

export interface FormatOptions {
  /** Where object `index` came from (a file name), shown next to it. */
  readonly sourceOf?: (index: number) => string | undefined;
}

/** Findings grouped by object; notes and suppressed findings after them; a summary line last. */
export function formatFindings(result: ValidationResult, options: FormatOptions = {}): string {
  const lines: string[] = [];
  const groups = new Map<number, Finding[]>();
  for (const f of result.findings) groups.set(f.object.index, [...(groups.get(f.object.index) ?? []), f]);
  for (const findings of groups.values()) {
    const ref = findings[0].object;
    const source = options.sourceOf?.(ref.index);
    const where = describeRef(ref);
    lines.push(`${where}${source ? ` (${source})` : ''}`);
    for (const f of findings) {
      const text = f.message.startsWith(`${where}: `) ? f.message.slice(where.length + 2) : f.message;
      lines.push(`  ${f.severity.padEnd(7)} ${f.rule}  ${text}`);
      lines.push(`  ${' '.repeat(7)} ${' '.repeat(f.rule.length)}  fix: ${f.fix}`);
    }
    lines.push('');
  }
  for (const s of result.suppressed) lines.push(`ignored ${s.rule} on ${describeRef(s.object)}: ${s.reason}`);
  for (const n of result.notes) lines.push(`note: ${n.message}`);
  const objects = new Set(result.findings.map((f) => f.object.index)).size;
  lines.push(
    result.findings.length === 0
      ? `no findings${result.suppressed.length > 0 ? ` (${result.suppressed.length} ignored)` : ''}`
      : `${result.errors} error(s), ${result.warnings} warning(s) in ${objects} object(s)`,
  );
  return lines.join('\n');
}
