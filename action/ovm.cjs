'use strict';
// The parts the action's two steps share: inputs, the runner's workflow
// commands and files, HTTP, and the bearer token. Plain Node (no
// dependencies, no build step); see action.yml for the runner's contract.

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');

// ActionError is a failure the action explains to the user; its message
// never holds a secret.
class ActionError extends Error {}

// input is the value of an input as the runner passes it (INPUT_<NAME>),
// trimmed; the runner fills in action.yml's defaults.
function input(name) {
  return (process.env['INPUT_' + name.replace(/ /g, '_').toUpperCase()] || '').trim();
}

// boolInput reads true or false as the YAML 1.2 core schema spells them.
function boolInput(name, dflt) {
  const v = input(name);
  if (v === '') return dflt;
  if (['true', 'True', 'TRUE'].includes(v)) return true;
  if (['false', 'False', 'FALSE'].includes(v)) return false;
  throw new ActionError(`input ${name}: "${v}" must be true or false`);
}

// escapeData escapes a workflow command's data as the runner unescapes it.
function escapeData(s) {
  return String(s).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

// mask tells the runner to hide value in the log from now on.
function mask(value) {
  if (value) process.stdout.write(`::add-mask::${escapeData(value)}\n`);
}

function info(msg) { process.stdout.write(`ovm: ${msg}\n`); }
function notice(msg) { process.stdout.write(`::notice::${escapeData('ovm: ' + msg)}\n`); }
function warning(msg) { process.stdout.write(`::warning::${escapeData('ovm: ' + msg)}\n`); }
function error(msg) { process.stdout.write(`::error::${escapeData('ovm: ' + msg)}\n`); }

// checkLine refuses a name or a value that would not stay one line of a
// runner file (GITHUB_ENV, GITHUB_OUTPUT, GITHUB_STATE): a line break in a
// value would let it set other variables. Values here are ids, keys and
// times; a line break in one is an error, never something to pass on. The
// message names the variable, never the value.
function checkLine(name, value) {
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) throw new ActionError(`refusing the name ${JSON.stringify(name)}`);
  if (typeof value !== 'string') throw new ActionError(`refusing ${name}: not a string`);
  if (/[\r\n]/.test(value)) throw new ActionError(`refusing ${name}: its value holds a line break`);
}

// appendFileCommand writes name=value to the runner file named by the
// environment variable fileVar. Call checkLine first for every pair.
function appendFileCommand(fileVar, name, value) {
  checkLine(name, value);
  const path = process.env[fileVar];
  if (!path) throw new ActionError(`${fileVar} is not set: this script runs as a step of a GitHub Actions job`);
  fs.appendFileSync(path, `${name}=${value}\n`);
}

// request sends one HTTP request and resolves with its answer. Node's
// fetch gives up on headers after 300 s, which a lease's wait (up to
// api.max_wait) can reach; http.request waits for timeoutMs.
function request(method, url, { headers = {}, body, timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    let u;
    try { u = new URL(url); } catch { reject(new ActionError(`not a URL: ${url}`)); return; }
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : null;
    if (!mod) { reject(new ActionError(`${u.protocol} is not http or https`)); return; }
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const h = { 'Accept': 'application/json', 'User-Agent': 'ovm-github-action', ...headers };
    if (data) { h['Content-Type'] = 'application/json'; h['Content-Length'] = String(data.length); }
    const req = mod.request(u, { method, headers: h }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer from ${u.host} within ${Math.round(timeoutMs / 1000)}s`)));
    req.on('error', (e) => reject(new ActionError(`${method} ${u.host}${u.pathname}: ${e.message}`)));
    req.end(data);
  });
}

// answerError explains a failed answer: OVM's {"error": {"code",
// "message"}}, else the start of the body on one line.
function answerError(what, res) {
  let msg = '';
  try {
    const e = JSON.parse(res.text).error;
    if (e && e.message) msg = e.code ? `${e.code}: ${e.message}` : e.message;
  } catch { /* not OVM's JSON */ }
  if (!msg) msg = res.text.replace(/\s+/g, ' ').trim().slice(0, 200) || '(no body)';
  let s = `${what}: ${res.status} ${msg}`;
  if (res.headers['retry-after'] && !/retry-after/i.test(msg)) s += ` (Retry-After: ${res.headers['retry-after']}s)`;
  return new ActionError(s);
}

// bearerToken is what the action signs in to OVM with: the token input (an
// OVM API key, for runners without OIDC), else a fresh OIDC ID token of the
// job for audience. Either is masked before anything else happens.
async function bearerToken(audience) {
  const key = input('token');
  if (key) { mask(key); return key; }
  const reqURL = process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const reqToken = process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!reqURL || !reqToken) {
    throw new ActionError('the job cannot ask GitHub for an OIDC ID token (ACTIONS_ID_TOKEN_REQUEST_URL is not set): ' +
      'give the job `permissions: id-token: write`, or pass an OVM API key as the token input');
  }
  const u = new URL(reqURL);
  u.searchParams.set('audience', audience);
  const res = await request('GET', u.toString(), { headers: { 'Authorization': `bearer ${reqToken}` } });
  if (res.status !== 200) throw answerError(`GitHub's ID token endpoint (audience ${audience})`, res);
  let value;
  try { value = JSON.parse(res.text).value; } catch { /* checked below */ }
  if (typeof value !== 'string' || value === '') throw new ActionError("GitHub's ID token endpoint answered without a token");
  mask(value);
  return value;
}

// Client calls OVM's API at base with token.
class Client {
  constructor(base, token) { this.base = base.replace(/\/+$/, ''); this.token = token; }

  async call(method, path, body, timeoutMs, headers = {}) {
    const res = await request(method, this.base + path,
      { headers: { 'Authorization': `Bearer ${this.token}`, ...headers }, body, timeoutMs });
    let json;
    if (res.status >= 200 && res.status < 300) {
      try { json = JSON.parse(res.text); } catch { throw new ActionError(`${method} ${path}: ${res.status} with a body that is not JSON`); }
    }
    return { res, json };
  }

  async must(method, path, body, timeoutMs) {
    const { res, json } = await this.call(method, path, body, timeoutMs);
    if (!json) throw answerError(`${method} ${path}`, res);
    return json;
  }

  // vend sends POST /v1/leases with an Idempotency-Key, and again with the
  // same key when the answer is lost (a reset, a timeout, a gateway's 502
  // or 504, the key still in progress): the server answers the first
  // vend's lease, never a second account. A refused connection made
  // nothing and is not retried.
  async vend(body, timeoutMs, delays = [500, 1000, 2000]) {
    const key = crypto.randomUUID();
    for (let attempt = 0; ; attempt++) {
      let res, json, lost;
      try {
        ({ res, json } = await this.call('POST', '/v1/leases', body, timeoutMs, { 'Idempotency-Key': key }));
        if (json) return json;
        lost = res.status === 502 || res.status === 504 || res.status === 409 && res.headers['retry-after'] !== undefined;
      } catch (e) {
        if (attempt === delays.length || /ECONNREFUSED/.test(e.message)) throw e;
        lost = true;
      }
      if (!lost || attempt === delays.length) throw answerError('POST /v1/leases', res);
      info(`the lease's answer was lost; asking again with the same Idempotency-Key (${attempt + 1} of ${delays.length})`);
      await new Promise((r) => setTimeout(r, delays[attempt]));
    }
  }
}

// baseURL checks the url input.
function baseURL() {
  const url = input('url');
  if (!url) throw new ActionError('input url is required (the OVM server, e.g. https://ovm.example.com)');
  let u;
  try { u = new URL(url); } catch { throw new ActionError(`input url: "${url}" is not a URL`); }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new ActionError(`input url: "${url}" must be https (or http)`);
  return url;
}

// audience is the audience input, or the url input as given.
function audience() { return input('audience') || input('url'); }

// run runs fn as the step and turns a failure into an ::error:: line and
// exit status 1. Only the message is printed: never a stack, never a body
// that was not explained.
function run(fn) {
  fn().catch((e) => {
    error(e instanceof ActionError ? e.message : `unexpected failure: ${e && e.message ? e.message : e}`);
    process.exitCode = 1;
  });
}

// STATE_LEASE is the name under which the main step tells the post step
// which lease to release (GITHUB_STATE; the runner hands it back as
// STATE_<name> to this action's post step only).
const STATE_LEASE = 'lease_id';

module.exports = {
  ActionError, input, boolInput, mask, info, notice, warning, error, checkLine, appendFileCommand,
  request, answerError, bearerToken, Client, baseURL, audience, run, STATE_LEASE,
};
