// A webhook receiver for fairpay's integration tests and benchmark.
//
// It verifies every delivery with the Standard Webhooks library (npm
// "standardwebhooks", pinned in package-lock.json), counts deliveries by
// webhook-id, and writes what it saw to a JSON state file (atomically,
// at most every 50 ms and at exit):
//   {"port": P, "requests": N, "verified": N, "bad_signature": N,
//    "answered": {"200": N, ...}, "ids": {"evt_12": 2, ...}}
//
// node receiver.js --state FILE [--port P] [--cert PEM --key PEM]
//                  [--secret whsec_...] [--fail-first N] [--status CODE]
//                  [--hang] [--delay-ms MS] [--host 127.0.0.1]
// Without --cert it serves plain HTTP. --fail-first N answers 500 to the
// first N requests (verified or not), --status answers CODE to every
// verified one, --hang never answers, --delay-ms answers that much later. A request whose signature does not
// verify gets 400. SIGTERM writes the state and exits.
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const { Webhook } = require('standardwebhooks');

const args = {};
for (let i = 2; i < process.argv.length; i++) {
	const a = process.argv[i];
	if (!a.startsWith('--')) throw new Error('unexpected argument ' + a);
	const name = a.slice(2);
	if (name === 'hang') args.hang = true;
	else args[name] = process.argv[++i];
}
if (!args.state) throw new Error('--state FILE is required');

const wh = args.secret ? new Webhook(args.secret) : null;
let failFirst = Number(args['fail-first'] || 0);
const status = Number(args.status || 200);
const delay = Number(args['delay-ms'] || 0);
const st = { port: 0, requests: 0, verified: 0, bad_signature: 0, answered: {}, ids: {} };
let dirty = true;

function save() {
	if (!dirty) return;
	dirty = false;
	const tmp = args.state + '.tmp';
	fs.writeFileSync(tmp, JSON.stringify(st));
	fs.renameSync(tmp, args.state);
}
setInterval(save, 50).unref();

function handle(req, res) {
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		st.requests++;
		dirty = true;
		if (args.hang) return; // never answered: the sender's timeout ends it
		const body = Buffer.concat(chunks).toString('utf8');
		let ok = true;
		if (wh) {
			try {
				wh.verify(body, req.headers);
			} catch (e) {
				ok = false;
			}
		}
		let code;
		if (!ok) {
			st.bad_signature++;
			code = 400;
		} else {
			st.verified++;
			const id = req.headers['webhook-id'];
			st.ids[id] = (st.ids[id] || 0) + 1;
			if (failFirst > 0) {
				failFirst--;
				code = 500;
			} else {
				code = status;
			}
		}
		const answer = () => {
			st.answered[code] = (st.answered[code] || 0) + 1;
			dirty = true;
			res.writeHead(code, { 'content-type': 'text/plain' });
			res.end(code < 300 ? 'ok\n' : 'no\n');
		};
		if (delay > 0) setTimeout(answer, delay);
		else answer();
	});
}

const server = args.cert
	? https.createServer({ cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key) }, handle)
	: http.createServer(handle);
server.keepAliveTimeout = 30000;
server.listen(Number(args.port || 0), args.host || '127.0.0.1', () => {
	st.port = server.address().port;
	dirty = true;
	save();
});
for (const sig of ['SIGTERM', 'SIGINT']) {
	process.on(sig, () => {
		dirty = true;
		save();
		process.exit(0);
	});
}
