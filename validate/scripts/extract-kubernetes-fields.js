#!/usr/bin/env node
/**
 * Maintainer step: writes schemas/kubernetes-1.32-fields.json, the field list of every Kubernetes
 * 1.32 API type (model name → field name → field type), from `@kubernetes/client-node` 1.1.x (installed
 * at the repository root under the alias `k8s-models-1.32`, generated from exactly Kubernetes 1.32).
 * The file is committed and shipped, so the package needs neither client-node nor a network at run
 * time; a test checks that it still matches the installed models. `--check` exits 1 when it differs.
 */
const fs = require('node:fs');
const path = require('node:path');

const OUT = path.join(__dirname, '..', 'schemas', 'kubernetes-1.32-fields.json');

async function fieldLists() {
  // The models are ES modules: a dynamic import, outside any CommonJS loader.
  const models = await import('k8s-models-1.32/dist/gen/models/all.js');
  const fields = {};
  for (const name of Object.keys(models).sort()) {
    const model = models[name];
    if (typeof model?.getAttributeTypeMap !== 'function') continue;
    fields[name] = Object.fromEntries(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  }
  return `${JSON.stringify(fields, null, 1)}\n`;
}

module.exports = { OUT, fieldLists };

if (require.main === module) {
  fieldLists().then((text) => {
    if (process.argv.includes('--check')) {
      const same = fs.existsSync(OUT) && fs.readFileSync(OUT, 'utf8') === text;
      if (!same)
        process.stderr.write(`${OUT} differs from the installed k8s-models-1.32; run without --check\n`);
      process.exitCode = same ? 0 : 1;
      return;
    }
    fs.writeFileSync(OUT, text);
    process.stdout.write(
      `wrote ${path.relative(process.cwd(), OUT)} (${(text.length / 1024).toFixed(0)} KiB)\n`,
    );
  });
}
