#!/usr/bin/env node
/**
 * Developer-only step of `npm run import` (runs after `cdk8s import`).
 *
 * Reads every CustomResourceDefinition YAML in ../shared/crds/<folder>/ (relative to the repository root)
 * and writes, for each *served* version, the version's `openAPIV3Schema` to
 *
 *   validate/schemas/crds/<group>_<kind lowercase>_<version>.json
 *     { "apiVersion": "<group>/<version>", "kind": "<Kind>", "source": "<folder>/<file>", "schema": {...} }
 *
 * The JSON files are committed so `@agent-fleet/validate` ships them and validates objects
 * without ../shared; the raw CRD YAML is never committed.
 *
 * Output is deterministic: inputs are processed in sorted order, keys keep their order from the CRD
 * source, JSON is indented by 2 spaces and ends with a newline. Files in validate/schemas/crds that this run
 * did not produce (a CRD or version that went away) are deleted, so the directory mirrors the CRDs.
 */

const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');

const repoRoot = path.resolve(__dirname, '..');
const crdRoot = path.resolve(repoRoot, '..', 'shared', 'crds');
const outDir = path.join(repoRoot, 'validate', 'schemas', 'crds');

function fail(message) {
  process.stderr.write(`extract-crd-schemas: ${message}\n`);
  process.exit(1);
}

function listCrdFiles() {
  if (!fs.existsSync(crdRoot) || !fs.statSync(crdRoot).isDirectory()) {
    fail(
      `CRD directory not found: ${crdRoot}\n` +
        'This is a developer-only step: it needs the upstream CRD YAML in ../shared/crds/<folder>/*.yaml ' +
        '(next to the repository). The generated validate/schemas/crds/*.json are committed, so building and ' +
        'testing do not need it.',
    );
  }
  const files = [];
  for (const folder of fs.readdirSync(crdRoot).sort()) {
    const folderPath = path.join(crdRoot, folder);
    if (!fs.statSync(folderPath).isDirectory()) continue;
    for (const file of fs.readdirSync(folderPath).sort()) {
      if (/\.ya?ml$/i.test(file)) files.push({ folder, file, fullPath: path.join(folderPath, file) });
    }
  }
  if (files.length === 0) fail(`no *.yaml / *.yml files found in ${crdRoot}/*/`);
  return files;
}

function extract() {
  const outputs = new Map(); // file name -> { content, source }
  for (const { folder, file, fullPath } of listCrdFiles()) {
    const source = `${folder}/${file}`;
    const docs = YAML.parseAllDocuments(fs.readFileSync(fullPath, 'utf8'));
    for (const doc of docs) {
      if (doc.errors.length > 0) fail(`${source}: YAML parse error: ${doc.errors[0].message}`);
      const crd = doc.toJS({ maxAliasCount: -1 });
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      const group = crd.spec?.group;
      const kind = crd.spec?.names?.kind;
      if (!group || !kind) fail(`${source}: CRD ${crd.metadata?.name} has no spec.group or spec.names.kind`);
      for (const version of crd.spec.versions ?? []) {
        if (!version.served) continue;
        const schema = version.schema?.openAPIV3Schema;
        if (!schema) fail(`${source}: ${kind} ${version.name} is served but has no schema.openAPIV3Schema`);
        const name = `${group}_${kind.toLowerCase()}_${version.name}.json`;
        if (outputs.has(name)) {
          fail(`${source}: ${group}/${version.name} ${kind} already defined by ${outputs.get(name).source}`);
        }
        const content = { apiVersion: `${group}/${version.name}`, kind, source, schema };
        outputs.set(name, { source, content: `${JSON.stringify(content, null, 2)}\n` });
      }
    }
  }
  if (outputs.size === 0) fail(`no served CustomResourceDefinition versions found in ${crdRoot}`);
  return outputs;
}

function main() {
  const outputs = extract();
  fs.mkdirSync(outDir, { recursive: true });
  for (const existing of fs.readdirSync(outDir)) {
    if (existing.endsWith('.json') && !outputs.has(existing)) {
      fs.unlinkSync(path.join(outDir, existing));
      process.stdout.write(`removed stale validate/schemas/crds/${existing}\n`);
    }
  }
  for (const name of [...outputs.keys()].sort()) {
    const { content, source } = outputs.get(name);
    const target = path.join(outDir, name);
    const unchanged = fs.existsSync(target) && fs.readFileSync(target, 'utf8') === content;
    if (!unchanged) fs.writeFileSync(target, content);
    process.stdout.write(
      `${unchanged ? 'unchanged' : 'wrote'} validate/schemas/crds/${name} (${(content.length / 1024).toFixed(0)} KiB) from ${source}\n`,
    );
  }
}

main();
