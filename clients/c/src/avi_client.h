/*
 * avi_client.h: the C device client of the @avi/p2p device protocol,
 * version 1 (docs/PROTOCOL.md), for ESP-IDF, Arduino (ESP32) and POSIX.
 *
 * The whole device side: handshake with cookie, sealed frames with the
 * 64-entry replay window, QoS 1 with retransmission and duplicate handling,
 * bundles both ways, keep-alive and sleep, gateway discovery, topic aliases
 * both ways, subscribe, publish, button and sensor events, streams.
 *
 * Memory: no allocation at all, no global state. The caller gives one
 * buffer (`avi_config_t.mem`, AVI_MEM_SIZE bytes) and the client struct
 * (`avi_client_t`, which it may place anywhere: static, stack, heap):
 *
 *   receive frame     max_frame bytes   (default 1024)
 *   send frame        max_frame bytes   (default 1024)
 *   pending store     store_bytes       (default 2048): the bytes of every
 *                                       unacknowledged message, kept to be
 *                                       retransmitted unchanged
 *   topic store       topic_bytes       (default 512): subscriptions and
 *                                       topic aliases (5 bytes + topic each)
 *   the client struct sizeof(avi_client_t) (848 bytes on a 32-bit MCU)
 *
 * Threading: one client is used from one thread (or task) at a time. The
 * event callback runs from inside the API: poll, input and tick (received
 * messages, acks, timers), connect and close (state changes), and the calls
 * that send (AVI_EV_FRAME_SENT). The API may be called from the callback
 * (what it sends leaves with the answers to the frame being handled),
 * except avi_client_poll/input/tick themselves (AVI_ERR_BUSY).
 *
 * Ports: the socket (send, receive with a timeout), the clock and the random
 * source (avi_socket_t, avi_system_t) and the crypto primitives
 * (avi_crypto_t: ChaCha20-Poly1305, HMAC-SHA256, HKDF-SHA256). Shipped:
 * avi_port_posix.h (POSIX/lwIP sockets), avi_crypto_mbedtls.h,
 * avi_crypto_openssl.h and avi_crypto_builtin.h (portable C, no library).
 */
#ifndef AVI_CLIENT_H
#define AVI_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AVI_CLIENT_VERSION "0.1.0"

/* ---------------------------------------------------------------- limits */

#define AVI_FRAME_DEFAULT 1024 /* max frame, bytes (docs/PROTOCOL.md 1) */
#define AVI_FRAME_MIN 256
#define AVI_FRAME_MAX 1472
#define AVI_OVERHEAD 26        /* sealed frame header + tag */
#define AVI_STORE_DEFAULT 2048 /* pending store, bytes */
#define AVI_TOPICS_DEFAULT 512 /* topic store, bytes */

/* Entries of the table of unacknowledged messages (data and control).
 * Both bounds shape avi_client_t: define them alike for every file. */
#ifndef AVI_MAX_INFLIGHT
#define AVI_MAX_INFLIGHT 24
#endif
/* Streams the device may have open at once. */
#ifndef AVI_MAX_STREAMS
#define AVI_MAX_STREAMS 4
#endif

/* Bytes of the caller's buffer for a frame size, pending and topic store. */
#define AVI_MEM_SIZE(frame, store, topics) (2u * (frame) + (store) + (topics))
#define AVI_MEM_DEFAULT \
  AVI_MEM_SIZE(AVI_FRAME_DEFAULT, AVI_STORE_DEFAULT, AVI_TOPICS_DEFAULT)

/* ---------------------------------------------------------------- results */

/* Results of the API: >= 0 success (a msgId for acknowledged messages). */
enum {
  AVI_OK = 0,
  AVI_ERR_ARG = -1,       /* bad argument (size, range, invalid UTF-8) */
  AVI_ERR_STATE = -2,     /* not connected (or never connected), closed */
  AVI_ERR_FULL = -3,      /* pending table or store full: retry later */
  AVI_ERR_TOO_LARGE = -4, /* the message does not fit the agreed frame */
  AVI_ERR_CRYPTO = -5,    /* a crypto primitive failed */
  AVI_ERR_SOCKET = -6,    /* the socket port failed */
  AVI_ERR_BUSY = -7       /* poll/input/tick called from a callback */
};

/* Protocol error codes (docs/PROTOCOL.md 7), as carried by acks. */
enum {
  AVI_E_OK = 0,
  AVI_E_MALFORMED = 1,
  AVI_E_UNKNOWN_SESSION = 2,
  AVI_E_NOT_AUTHORISED = 3,
  AVI_E_TOO_LARGE = 4,
  AVI_E_RATE_LIMITED = 5,
  AVI_E_UNSUPPORTED_VERSION = 6,
  AVI_E_NOT_PERMITTED = 7,
  AVI_E_LIMIT_REACHED = 8,
  AVI_E_UNKNOWN_STREAM = 9,
  AVI_E_UNKNOWN_ALIAS = 10,
  AVI_E_REPLAYED = 11,
  AVI_E_UNAVAILABLE = 12,
  AVI_E_INTERNAL = 13
};

/* Message types (docs/PROTOCOL.md 4); ACK events name what they answer. */
enum {
  AVI_MSG_SUBSCRIBE = 1,
  AVI_MSG_UNSUBSCRIBE = 3,
  AVI_MSG_PUBLISH = 5,
  AVI_MSG_STREAM_START = 8,
  AVI_MSG_BUTTON = 11,
  AVI_MSG_SENSOR = 12
};

/* Button press kinds. */
typedef enum { AVI_PRESS_SINGLE = 0, AVI_PRESS_DOUBLE = 1, AVI_PRESS_LONG = 2 } avi_press_t;

/* Sensor kinds and the value each carries (avi_client_sensor's `value`). */
typedef enum {
  AVI_SENSOR_TEMPERATURE = 0, /* float32, degrees C */
  AVI_SENSOR_HUMIDITY = 1,    /* float32, % */
  AVI_SENSOR_BATTERY = 2,     /* 0..255, % */
  AVI_SENSOR_STATUS = 3,      /* bool: value != 0 */
  AVI_SENSOR_RAW = 4          /* int32 */
} avi_sensor_kind_t;

typedef enum {
  AVI_IDLE = 0,
  AVI_SEARCHING,    /* SearchGw sent, waiting for a GwInfo */
  AVI_HANDSHAKING,  /* first handshake (Hello, Cookie, Welcome) */
  AVI_CONNECTED,
  AVI_RECONNECTING, /* a new handshake after a lost session */
  AVI_CLOSED
} avi_state_t;

/* ---------------------------------------------------------------- ports */

/* An IPv4 address and UDP port (address bytes in network order). */
typedef struct {
  uint8_t ip[4];
  uint16_t port;
} avi_addr_t;

/* The datagram socket. */
typedef struct {
  void *ctx;
  /* Sends one datagram; returns 0, or < 0 (a lost datagram: the protocol
   * retransmits). */
  int (*send)(void *ctx, const avi_addr_t *to, const uint8_t *data, size_t len);
  /* Waits up to timeout_ms for one datagram; returns its length (which may
   * exceed cap if it was truncated: it is then dropped), 0 on timeout, or
   * < 0 on a socket error. Needed by avi_client_poll only. */
  int (*recv)(void *ctx, uint8_t *buf, size_t cap, avi_addr_t *from,
              uint32_t timeout_ms);
} avi_socket_t;

/* The clock and the random source. */
typedef struct {
  void *ctx;
  /* A monotonic clock in milliseconds (it may wrap around 2^32). */
  uint32_t (*now_ms)(void *ctx);
  /* Fills out with random bytes (nonces, msgId start); returns 0. */
  int (*random)(void *ctx, uint8_t *out, size_t len);
} avi_system_t;

/* Byte strings concatenated as one input. */
typedef struct {
  const uint8_t *p;
  size_t n;
} avi_bytes_t;

/* The crypto primitives; every function returns 0 on success. */
typedef struct {
  void *ctx;
  /* HMAC-SHA256(key, parts[0] || parts[1] || ...). */
  int (*hmac_sha256)(void *ctx, const uint8_t *key, size_t key_len,
                     const avi_bytes_t *parts, size_t n_parts, uint8_t out[32]);
  /* HKDF-SHA256 (RFC 5869), okm_len <= 255 * 32. */
  int (*hkdf_sha256)(void *ctx, const uint8_t *ikm, size_t ikm_len,
                     const uint8_t *salt, size_t salt_len, const uint8_t *info,
                     size_t info_len, uint8_t *okm, size_t okm_len);
  /* ChaCha20-Poly1305 (RFC 8439) in place: buf[0..len) is encrypted, the
   * tag written to tag. */
  int (*aead_seal)(void *ctx, const uint8_t key[32], const uint8_t nonce[12],
                   const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
                   uint8_t tag[16]);
  /* Decrypts buf[0..len) in place; returns 0 only when the tag verifies. */
  int (*aead_open)(void *ctx, const uint8_t key[32], const uint8_t nonce[12],
                   const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
                   const uint8_t tag[16]);
} avi_crypto_t;

/* HKDF-SHA256 built on the port's HMAC (for back ends without HKDF). */
int avi_hkdf_sha256_hmac(const avi_crypto_t *crypto, const uint8_t *ikm,
                         size_t ikm_len, const uint8_t *salt, size_t salt_len,
                         const uint8_t *info, size_t info_len, uint8_t *okm,
                         size_t okm_len);

/* ---------------------------------------------------------------- events */

typedef enum {
  /* The state changed: ev->state. */
  AVI_EV_STATE = 1,
  /* avi_client_connect() gave up before a first session: ev->code is the
   * Reject code (3 not authorised, 6 unsupported version), or 0 when no
   * gateway answered before connect_timeout_ms. The client is then IDLE. */
  AVI_EV_CONNECT_FAILED,
  /* A message on a subscribed topic: ev->topic (NUL-terminated,
   * ev->topic_len bytes), ev->data / ev->len, ev->qos, ev->msg_id. QoS 1
   * duplicates are acknowledged and not delivered again. */
  AVI_EV_MESSAGE,
  /* The gateway answered an acknowledged message: ev->msg_type (AVI_MSG_*),
   * ev->msg_id (as returned by the call), ev->code (0 = accepted). */
  AVI_EV_ACK,
  /* Stream data from the gateway: ev->stream_id, ev->seq, ev->data/len. */
  AVI_EV_STREAM_DATA,
  /* The gateway closed a stream: ev->stream_id, ev->code. */
  AVI_EV_STREAM_CLOSE,
  /* An Error message from the gateway (e.g. 4 too large: a message did not
   * fit the device's frame), or a refused handshake: ev->code,
   * ev->msg_id, ev->topic = the detail text (NUL-terminated). */
  AVI_EV_ERROR,
  /* The gateway answered avi_client_ping() (or a keep-alive Ping). */
  AVI_EV_PONG,
  /* Diagnostics: a sealed frame was sent (ev->count messages, ev->seq) or
   * received (ev->count messages; ev->code 1 and count 0: it was dropped
   * whole as malformed). */
  AVI_EV_FRAME_SENT,
  AVI_EV_FRAME_RECEIVED
} avi_event_type_t;

typedef struct {
  avi_event_type_t type;
  avi_state_t state;
  uint8_t code;
  uint8_t qos;
  uint8_t msg_type;
  uint8_t stream_id;
  uint16_t msg_id;
  uint16_t count;
  uint32_t seq;
  const char *topic;
  size_t topic_len;
  const uint8_t *data; /* valid during the callback only */
  size_t len;
} avi_event_t;

typedef void (*avi_event_fn)(void *user, const avi_event_t *ev);

/* ---------------------------------------------------------------- config */

typedef struct {
  uint64_t device_id;         /* 0 .. 2^53-1, known to the gateway */
  uint8_t key[32];            /* the device's pre-shared key */
  avi_addr_t gateway;         /* port 0: discover one with SearchGw */
  avi_addr_t discovery;       /* port 0: 239.255.97.118:8888 */
  uint16_t max_frame;         /* 256..1472 (0: 1024) */
  uint8_t *mem;               /* AVI_MEM_SIZE(max_frame, store, topics) */
  size_t mem_len;
  size_t store_bytes;         /* 0: AVI_STORE_DEFAULT */
  size_t topic_bytes;         /* 0: AVI_TOPICS_DEFAULT */
  uint32_t connect_timeout_ms; /* 0: 10000 */
  uint32_t retry_initial_ms;  /* 0: 1000, doubling ... */
  uint32_t retry_max_ms;      /* 0: 8000 */
  uint8_t max_transmissions;  /* 0: 4 (then the gateway is presumed lost) */
  uint8_t max_pending;        /* unacknowledged data messages, 0: 16 */
  uint8_t max_aliases;        /* topic aliases per direction, 0: 16 */
  uint8_t no_aliases;         /* 1: never register uplink aliases */
  uint8_t alias_min_topic_bytes; /* 0: 16 */
  uint16_t first_msg_id;      /* 0: random (the protocol's advice) */
  const avi_socket_t *socket;
  const avi_system_t *system;
  const avi_crypto_t *crypto;
  avi_event_fn on_event;
  void *user;
} avi_config_t;

typedef struct {
  uint32_t frames_sent;
  uint32_t messages_sent;
  uint32_t frames_received;
  uint32_t frames_dropped;
  uint32_t retransmissions;
  uint32_t handshakes;
  uint32_t duplicates;
  uint32_t aliased; /* QoS 0 publishes sent with a topic alias */
} avi_stats_t;

/* ------------------------------------------------ the client (opaque) */

/* Fields are private: read them through the functions below. */
typedef struct {
  uint16_t off, len, msg_id;
  uint8_t type, tx;
  uint32_t next_at, first_at;
} avi_pending_t;

typedef struct {
  uint8_t used, id;
  uint32_t seq;
} avi_stream_t;

typedef struct avi_client {
  avi_socket_t sock;
  avi_system_t sys;
  avi_crypto_t crypto;
  avi_event_fn on_event;
  void *user;
  uint64_t device_id;
  uint8_t psk[32];
  avi_addr_t gw, discovery;
  uint8_t *rx, *tx, *store, *topics;
  uint16_t max_frame, frame, store_cap, store_len, topics_cap, topics_len;
  uint32_t connect_timeout, retry_initial, retry_max;
  uint8_t max_tx, max_pending, max_aliases, alias_min;
  uint8_t state, gw_known, connecting, ever, depth, busy;
  /* handshake */
  uint8_t nonce[16], cookie[16], search_nonce[8];
  uint8_t hs_tx;
  uint32_t hs_next, connect_deadline;
  /* session */
  uint32_t sid, tx_seq, rx_high, keepalive_ms, gateway_id;
  uint64_t rx_bits;
  uint8_t k_d2g[32], k_g2d[32];
  uint32_t last_sent, last_recv;
  uint8_t ping_tx;
  uint32_t ping_first, ping_next;
  /* outbox: messages at tx + 10 */
  uint16_t out_len;
  uint8_t out_n;
  /* unacknowledged messages, in msgId order */
  uint8_t pend_n;
  uint16_t next_id, next_alias;
  avi_pending_t pend[AVI_MAX_INFLIGHT];
  /* downlink QoS 1 msgIds acknowledged (this session) */
  uint16_t seen[32];
  uint8_t seen_pos, seen_n;
  avi_stream_t streams[AVI_MAX_STREAMS];
  avi_stats_t stats;
} avi_client_t;

/* ---------------------------------------------------------------- API */

/* Fills cfg with the defaults (mem, ports and key still to set). */
void avi_config_init(avi_config_t *cfg);

/* Checks the config and prepares the client; nothing is sent. Returns
 * AVI_OK or AVI_ERR_ARG (bad range, missing port, mem too small). */
int avi_client_init(avi_client_t *c, const avi_config_t *cfg);

/* Starts discovery (no gateway configured) and the handshake. Progress and
 * the outcome come as events (AVI_EV_STATE CONNECTED, AVI_EV_CONNECT_FAILED)
 * from avi_client_poll(). */
int avi_client_connect(avi_client_t *c);

/* Waits up to timeout_ms for a datagram (through the socket port), handles
 * it and runs every timer that falls due meanwhile. Returns 1 when a
 * datagram was handled (it returns then), 0 when the time ran out, or a
 * negative AVI_ERR_*. */
int avi_client_poll(avi_client_t *c, uint32_t timeout_ms);

/* For callers with their own receive loop: hands over one datagram (copied)
 * and its source. Returns AVI_OK (dropped datagrams included). */
int avi_client_input(avi_client_t *c, const uint8_t *data, size_t len,
                     const avi_addr_t *from);
/* Runs whatever is due now: retransmissions, keep-alive, deadlines. */
void avi_client_tick(avi_client_t *c);
/* Milliseconds until something falls due (for avi_client_input loops). */
uint32_t avi_client_next_timeout(avi_client_t *c);

/* Acknowledged calls return the msgId (1..65535) that their AVI_EV_ACK
 * event carries, or a negative AVI_ERR_*. They are kept and retransmitted
 * (same bytes) until answered, across reconnections; they need a session
 * established once (CONNECTED or RECONNECTING). */
int avi_client_subscribe(avi_client_t *c, const char *topic);
int avi_client_unsubscribe(avi_client_t *c, const char *topic);
/* qos 0: sent once (returns 0; needs CONNECTED); qos 1: acknowledged. */
int avi_client_publish(avi_client_t *c, const char *topic, const uint8_t *data,
                       size_t len, int qos);
/* custom may be NULL (nil). Published on device/<id>/button as JSON. */
int avi_client_button(avi_client_t *c, uint8_t button_id, avi_press_t press,
                      const uint8_t *custom, size_t custom_len);
/* Published on device/<id>/sensor/<name> and kept in the shared context.
 * name: 1..64 of A-Z a-z 0-9 _ - (the gateway's rule). */
int avi_client_sensor(avi_client_t *c, const char *name, avi_sensor_kind_t kind,
                      double value, const uint8_t *custom, size_t custom_len);
/* Asks the gateway for a mesh stream to target_peer (acknowledged). */
int avi_client_stream_start(avi_client_t *c, uint8_t stream_id,
                            const char *target_peer, const char *reason);
/* StreamData, sent at once, unacknowledged; seq counts from 0 per stream. */
int avi_client_stream_send(avi_client_t *c, uint8_t stream_id,
                           const uint8_t *data, size_t len);
int avi_client_stream_close(avi_client_t *c, uint8_t stream_id, uint8_t code);
/* Sends a Ping now (AVI_EV_PONG when answered; unanswered, it counts
 * toward "gateway lost" like the keep-alive Ping). */
int avi_client_ping(avi_client_t *c);
/* Tells the gateway the device sleeps for `seconds` (Disconnect s): it
 * keeps the session and queues messages; the keep-alive Ping when the
 * sleep ends (or any earlier send) wakes the session. */
int avi_client_sleep(avi_client_t *c, uint32_t seconds);
/* Calls made between begin and end leave together, in as few frames as
 * fit (a bundle, docs/PROTOCOL.md 4.6); nothing waits past end. */
void avi_client_batch_begin(avi_client_t *c);
void avi_client_batch_end(avi_client_t *c);
/* Disconnect 0 when connected, then CLOSED; pending messages dropped. */
void avi_client_close(avi_client_t *c);

avi_state_t avi_client_state(const avi_client_t *c);
const avi_stats_t *avi_client_stats(const avi_client_t *c);
/* Unacknowledged messages held (sent or waiting for the send window). */
unsigned avi_client_pending(const avi_client_t *c);
/* The agreed max frame (0 before a session), session id, gateway id,
 * keep-alive seconds, gateway address. */
uint16_t avi_client_frame(const avi_client_t *c);
uint32_t avi_client_session_id(const avi_client_t *c);
uint32_t avi_client_gateway_id(const avi_client_t *c);
uint32_t avi_client_keepalive_s(const avi_client_t *c);
const avi_addr_t *avi_client_gateway(const avi_client_t *c);

/* The name of a protocol error code ("not authorised") or AVI_ERR_*. */
const char *avi_code_name(int code);
const char *avi_err_name(int err);

/* ------------------------------------- low-level protocol (tests, tools) */

/* The 60-byte Hello (docs/PROTOCOL.md 2.1). */
int avi_hello_build(const avi_crypto_t *crypto, uint8_t out[60], uint64_t id,
                    const uint8_t psk[32], const uint8_t nonce[16],
                    uint16_t max_frame, const uint8_t cookie[16]);
/* The key schedule (docs/PROTOCOL.md 3.4). */
int avi_keys_derive(const avi_crypto_t *crypto, const uint8_t psk[32],
                    uint64_t id, uint32_t sid, const uint8_t nc[16],
                    const uint8_t ns[16], uint8_t k_d2g[32], uint8_t k_g2d[32]);
/* Seals frame[10 .. 10+ptlen) in place into a Sealed frame; returns its
 * length (ptlen + 26) or AVI_ERR_CRYPTO. frame holds ptlen + 26 bytes. */
int avi_frame_seal(const avi_crypto_t *crypto, const uint8_t key[32],
                   uint32_t sid, uint32_t seq, uint8_t *frame, size_t ptlen);
/* Opens a Sealed frame in place; returns the plaintext length (the
 * plaintext is at frame + 10) or -1 (short, or forged). */
int avi_frame_open(const avi_crypto_t *crypto, const uint8_t key[32],
                   uint8_t *frame, size_t len);
/* Checks a received plaintext (docs/PROTOCOL.md 4.6): returns how many valid
 * messages it holds back to back (1..32), or -1: the frame is malformed. */
int avi_messages_check(const uint8_t *pt, size_t len);
/* Parses the Welcome body [maxFrame, keepAlive, gatewayId]; 0 or -1. */
int avi_welcome_parse(const uint8_t *body, size_t len, uint16_t asked_frame,
                      uint16_t *max_frame, uint16_t *keepalive_s,
                      uint32_t *gateway_id);

#ifdef __cplusplus
}
#endif
#endif /* AVI_CLIENT_H */
