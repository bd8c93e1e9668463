/**
 * The cdk8s validation plugin. In a platform repository's cdk8s.yaml:
 *
 *   validations:
 *     - package: ./node_modules/@agent-fleet/validate
 *       class: AgentFleetValidation
 *       version: 0.1.0
 *       properties: { skip: [AF205] }   # optional: AgentFleetValidationProps
 *
 * `cdk8s synth` (validation is on unless `--no-validate`) loads it from disk, calls `validate(context)`
 * once with every synthesized manifest, and prints the report with the construct path of each offending
 * object. The context's shape is cdk8s-cli's `ValidationContext` (src/plugins/validation.ts); it is
 * restated here so that the package does not depend on cdk8s-cli.
 */
import type { Json } from './manifest';
import { RULES, type ValidateOptions, validateManifests } from './validate';

/** A violation as cdk8s-cli's `ValidationReport.addViolation` takes it. */
export interface PluginViolation {
  readonly ruleName: string;
  readonly recommendation: string;
  readonly fix: string;
  readonly violatingResources: ReadonlyArray<{
    /** `metadata.name`: cdk8s-cli maps it to the construct path. */
    readonly resourceName: string;
    readonly locations: readonly string[];
    readonly manifestPath: string;
  }>;
}

/** What cdk8s-cli passes to `validate`: the parts of its `ValidationContext` this plugin uses. */
export interface PluginContext {
  readonly manifests: readonly string[];
  readonly report: {
    addViolation(violation: PluginViolation): void;
    submit(status: 'success' | 'failure', metadata?: { readonly [key: string]: string }): void;
  };
  readonly logger: { log(message: string): void };
  parseManifest(manifestPath: string): Json[];
}

/** The `properties` of the plugin's entry in cdk8s.yaml. */
export interface AgentFleetValidationProps extends ValidateOptions {
  /** Fail the synth on warnings too. @default false (errors fail it, warnings are reported) */
  readonly failOnWarnings?: boolean;
}

export class AgentFleetValidation {
  constructor(private readonly props: AgentFleetValidationProps = {}) {}

  async validate(context: PluginContext): Promise<void> {
    // One run over every manifest, so rules that relate objects (a PDB and its Job) see them all.
    const objects: Json[] = [];
    const manifestOf: string[] = [];
    for (const manifest of context.manifests) {
      for (const obj of context.parseManifest(manifest)) {
        if (obj === null || obj === undefined) continue;
        objects.push(obj);
        manifestOf.push(manifest);
      }
    }
    const result = validateManifests(objects, this.props);
    for (const rule of RULES) {
      const findings = result.findings.filter((f) => f.rule === rule.id);
      if (findings.length === 0) continue;
      const byObject = new Map<number, string[]>();
      for (const f of findings) {
        byObject.set(f.object.index, [
          ...(byObject.get(f.object.index) ?? []),
          `${f.field || '(object)'}: ${f.message}`,
        ]);
      }
      context.report.addViolation({
        ruleName: `${rule.id} (${rule.severity}) ${rule.title}`,
        recommendation: `${rule.title}. See docs/validation-rules.md#${rule.id.toLowerCase()}; source: ${rule.source}`,
        fix: rule.fix,
        violatingResources: [...byObject].map(([index, locations]) => ({
          resourceName: findings.find((f) => f.object.index === index)?.object.name ?? `#${index}`,
          locations,
          manifestPath: manifestOf[index],
        })),
      });
    }
    for (const note of result.notes) context.logger.log(`@agent-fleet/validate: ${note.message}`);
    const failed = result.errors > 0 || (this.props.failOnWarnings === true && result.warnings > 0);
    context.report.submit(failed ? 'failure' : 'success', {
      errors: String(result.errors),
      warnings: String(result.warnings),
      ignored: String(result.suppressed.length),
      objects: String(objects.length),
    });
  }
}
