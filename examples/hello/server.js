// The bundled example app: a tiny HTTP server with a /health endpoint.
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

const port = Number(process.env.PORT || 8080);
const revision = (() => {
  try {
    return fs.readFileSync(path.join(__dirname, 'REVISION'), 'utf8').trim();
  } catch {
    return 'dev';
  }
})();

http
  .createServer((req, res) => {
    if (req.url === '/health') return res.end('ok\n');
    res.setHeader('content-type', 'text/html');
    fs.createReadStream(path.join(__dirname, 'public', 'index.html')).pipe(res);
  })
  .listen(port, '127.0.0.1', () => console.log(`hello (${revision}) on http://127.0.0.1:${port}`));
