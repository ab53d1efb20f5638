/**
 * A small long-running app for the blue-green suites: answers `<version> <pid>` from the VERSION
 * file of its release (cwd), `/health` 200 (or 500 when the release holds FAIL_HEALTH), exits at
 * once when the release holds CRASH, and on SIGTERM stops accepting, finishes what it serves and
 * exits (what a well-behaved app under a process manager does).
 */
export const BG_APP = `const http = require('http');
const fs = require('fs');
if (fs.existsSync('CRASH')) { console.error('boom: crashing on purpose'); process.exit(3); }
const version = fs.readFileSync('VERSION', 'utf8').trim();
const failHealth = fs.existsSync('FAIL_HEALTH');
const server = http.createServer((req, res) => {
  if (req.url === '/health') { res.statusCode = failHealth ? 500 : 200; return res.end(failHealth ? 'sick' : 'ok'); }
  res.setHeader('content-type', 'text/plain');
  res.end(version + ' ' + process.pid);
});
server.keepAliveTimeout = 2000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening on ' + process.env.PORT + ' as ' + version));
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeIdleConnections(); setTimeout(() => process.exit(0), 5000).unref(); });
`;
