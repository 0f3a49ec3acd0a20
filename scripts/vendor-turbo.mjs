// `npm run build`: copies the npm-installed @hotwired/turbo into
// turbo/static/turbo/vendor/, which git ignores and the Python build ships
// (hatch_build.py, docs/vendoring.rst). Only node's own fs and path: the build
// step must not need anything besides the pinned package itself.
import fs from "node:fs";
import path from "node:path";

const root = new URL("../", import.meta.url);
const packageDir = new URL("node_modules/@hotwired/turbo/", root);
const vendorDir = new URL("turbo/static/turbo/vendor/", root);
const shown = (url) => path.relative(process.cwd(), url.pathname) || ".";

function fail(message) {
  console.error(`vendor-turbo: ${message}`);
  process.exit(1);
}

function readJSON(url) {
  return JSON.parse(fs.readFileSync(url, "utf8"));
}

if (!fs.existsSync(packageDir)) {
  fail(`${shown(packageDir)} is missing: run \`npm ci\` first.`);
}
const installed = readJSON(new URL("package.json", packageDir)).version;
const pinned = readJSON(new URL("package.json", root)).dependencies["@hotwired/turbo"];
// A stale node_modules (the pin bumped without `npm ci`) would ship the wrong Turbo.
if (installed !== pinned) {
  fail(`node_modules has @hotwired/turbo ${installed}, package.json pins ${pinned}: run \`npm ci\` first.`);
}
const script = new URL("dist/turbo.es2017-esm.js", packageDir);
if (!fs.existsSync(script)) {
  fail(`${shown(script)} is missing: run \`npm ci\` first.`);
}

// Turbo's npm tarball has shipped no license file so far (upstream keeps
// MIT-LICENSE in its git repository only). Copy one if a release ships it;
// otherwise write the MIT text, which package.json declares, with the copyright
// line of the bundle's own banner, so the notice MIT requires travels with it.
function licenseText() {
  const names = fs.readdirSync(packageDir).filter((name) =>
    /^(MIT-)?LICEN[CS]E(\.(md|txt))?$/i.test(name),
  );
  if (names.length > 0) {
    return fs.readFileSync(new URL(names[0], packageDir), "utf8");
  }
  const license = readJSON(new URL("package.json", packageDir)).license;
  if (license !== "MIT") {
    fail(`@hotwired/turbo ${installed} ships no license file and declares "${license}", not MIT: vendor its license by hand.`);
  }
  const copyright = fs.readFileSync(script, "utf8").match(/^Copyright .+$/m);
  if (!copyright) {
    fail(`${shown(script)} has no "Copyright ..." banner line to build its license notice from.`);
  }
  return `The MIT License, which @hotwired/turbo ${installed} declares in its package.json.
Its npm package ships no license file: this is the MIT text with the copyright
line of dist/turbo.es2017-esm.js's banner. Upstream's git repository,
https://github.com/hotwired/turbo, keeps its license as MIT-LICENSE.

${copyright[0]}

Permission is hereby granted, free of charge, to any person obtaining
a copy of this software and associated documentation files (the
"Software"), to deal in the Software without restriction, including
without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to
permit persons to whom the Software is furnished to do so, subject to
the following conditions:

The above copyright notice and this permission notice shall be
included in all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE
LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION
OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
`;
}
const license = licenseText();

// The directory holds only what this script writes: start afresh, so no file of
// an earlier build lingers into the wheel.
fs.rmSync(vendorDir, { recursive: true, force: true });
fs.mkdirSync(vendorDir, { recursive: true });
fs.copyFileSync(script, new URL("turbo.es2017-esm.js", vendorDir));
fs.writeFileSync(new URL("turbo-LICENSE", vendorDir), license);
fs.writeFileSync(new URL("turbo-version.txt", vendorDir), `${installed}\n`);
console.log(`vendor-turbo: @hotwired/turbo ${installed} -> ${shown(vendorDir)}/`);
