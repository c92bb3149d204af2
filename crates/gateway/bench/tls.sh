# Sourced by the gateway's bench scripts: TLS to a provider on loopback, as in production. A
# throwaway certificate authority made with openssl, and an nginx terminating TLS with a
# certificate it signed (for 127.0.0.1) in front of a plain-HTTP fake; the gateway trusts the
# authority through `gateway.upstream_ca_file`. Needs openssl and nginx.

# Makes DIR/ca.pem (the authority, valid two days) and DIR/server.pem with DIR/server.key (for
# IP 127.0.0.1, signed by it). Returns 1 when openssl is missing.
tls_make_ca() {
  command -v openssl > /dev/null || { echo "tls.sh: needs openssl" >&2; return 1; }
  local dir="$1"
  mkdir -p "$dir"
  # Quiet when it works; its own words, and a line of ours, when it does not.
  tls_openssl() {
    openssl "$@" 2> "$dir/openssl.log" || {
      cat "$dir/openssl.log" >&2; echo "tls.sh: openssl $1 failed" >&2; return 1; }
  }
  tls_openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=Switchyard bench authority" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -keyout "$dir/ca.key" -out "$dir/ca.pem" || return 1
  tls_openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=127.0.0.1" -keyout "$dir/server.key" -out "$dir/server.csr" || return 1
  printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > "$dir/server.ext"
  tls_openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem" || return 1
}

# Starts nginx terminating TLS on a free loopback port with DIR's certificate, forwarding to
# UPSTREAM (host:port, plain HTTP, keep-alive), and prints its https URL. With REQUESTS (a
# number), nginx closes each client connection after that many requests; with 1, a full
# handshake a request (no session tickets or cache, so no resumed handshakes). Its pid in
# DIR/nginx.pid, written before this returns. Returns 1 when nginx is missing or does not start.
tls_start_nginx() {
  command -v nginx > /dev/null || { echo "tls.sh: needs nginx" >&2; return 1; }
  local dir="$1" upstream="$2" requests="${3:-1000}" port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')" || return 1
  [ -n "$port" ] || return 1
  cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  upstream fake { server $upstream; keepalive 64; }
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $dir/server.pem;
    ssl_certificate_key $dir/server.key;
    keepalive_requests $requests;
$( [ "$requests" = 1 ] && echo "    ssl_session_tickets off; ssl_session_cache off;" )
    location / {
      proxy_pass http://fake; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
CONF
  rm -f "$dir/nginx.pid"
  nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log" > /dev/null || return 1
  # nginx writes its pid file after it returns: wait for it (5 s at most), so a stop that
  # follows at once finds it.
  for _ in $(seq 50); do [ -s "$dir/nginx.pid" ] && break; sleep 0.1; done
  [ -s "$dir/nginx.pid" ] || { echo "tls.sh: nginx wrote no pid file ($dir/error.log)" >&2; return 1; }
  echo "https://127.0.0.1:$port"
}

# Stops the nginx started in DIR, if any.
tls_stop_nginx() {
  if [ -f "$1/nginx.pid" ]; then kill "$(cat "$1/nginx.pid")" 2> /dev/null || true; rm -f "$1/nginx.pid"; fi
}
