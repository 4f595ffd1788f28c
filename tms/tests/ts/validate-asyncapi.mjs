// Validates an AsyncAPI document with the AsyncAPI parser (npm @asyncapi/parser):
//   node validate-asyncapi.mjs FILE
// Prints every diagnostic; exits 1 on an error (or a warning: the document should be clean).
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const [, , file] = process.argv;
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"));
const severities = ["error", "warning", "info", "hint"];
for (const d of diagnostics) {
  console.log(`${severities[d.severity]} ${d.code} at ${d.path.join("/")}: ${d.message}`);
}
const problems = diagnostics.filter((d) => d.severity <= 1);
if (!document || problems.length > 0) {
  process.exit(1);
}
console.log(`valid AsyncAPI ${document.version()}: ${document.channels().length} channels, ` +
  `${document.operations().length} operations, ${document.components().messages().length} messages`);
