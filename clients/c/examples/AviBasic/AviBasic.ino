// AviBasic: an ESP32 joins the @avi/p2p mesh through its gateway. It prints
// the messages of home/lights, reports the chip temperature every 10 s
// (device/<id>/sensor/chip, kept in the shared context) and the BOOT button
// (device/<id>/button). Get the id and key with `avi devices add`.
#include <WiFi.h>
#include <string.h>
#include <avi_client.h>
#include <avi_crypto_builtin.h>
#include <avi_port_posix.h>

static const char *WIFI_SSID = "my-wifi";
static const char *WIFI_PASS = "my-password";
static const char *GATEWAY = "192.168.1.10"; // "" to discover it (SearchGw)
static const uint64_t DEVICE_ID = 42;
static const uint8_t KEY[32] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
                                0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
                                0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
static const int BUTTON_PIN = 0; // BOOT

static uint8_t mem[AVI_MEM_DEFAULT]; // every buffer the client uses
static avi_client_t avi;
static avi_posix_t net;
static avi_socket_t sock;
static avi_system_t sys;
static avi_crypto_t crypto;
static bool subscribed = false;
static uint32_t lastReport = 0;
static int lastButton = HIGH;

static void onEvent(void *user, const avi_event_t *ev) {
  (void)user;
  switch (ev->type) {
  case AVI_EV_STATE:
    Serial.printf("avi: state %d\n", (int)ev->state);
    break;
  case AVI_EV_CONNECT_FAILED:
    Serial.printf("avi: connect failed (%s)\n", ev->code ? avi_code_name(ev->code) : "no gateway");
    break;
  case AVI_EV_MESSAGE:
    Serial.printf("%s: %.*s\n", ev->topic, (int)ev->len, (const char *)ev->data);
    break;
  case AVI_EV_ACK:
    if (ev->code) Serial.printf("avi: message %u refused: %s\n", ev->msg_id, avi_code_name(ev->code));
    break;
  default:
    break;
  }
}

void setup() {
  Serial.begin(115200);
  pinMode(BUTTON_PIN, INPUT_PULLUP);
  WiFi.begin(WIFI_SSID, WIFI_PASS);
  while (WiFi.status() != WL_CONNECTED) delay(200);

  avi_posix_open(&net, 0);
  avi_posix_ports(&net, &sock, &sys);
  avi_crypto_builtin_init(&crypto);
  avi_config_t cfg;
  avi_config_init(&cfg);
  cfg.device_id = DEVICE_ID;
  memcpy(cfg.key, KEY, sizeof KEY);
  if (GATEWAY[0]) avi_posix_addr(GATEWAY, 8888, &cfg.gateway);
  cfg.mem = mem;
  cfg.mem_len = sizeof mem;
  cfg.socket = &sock;
  cfg.system = &sys;
  cfg.crypto = &crypto;
  cfg.on_event = onEvent;
  if (avi_client_init(&avi, &cfg) != AVI_OK) Serial.println("avi: bad configuration");
  avi_client_connect(&avi);
}

void loop() {
  avi_client_poll(&avi, 20); // receives, retransmits, keeps the session alive
  if (avi_client_state(&avi) == AVI_IDLE) avi_client_connect(&avi); // gave up: again
  if (avi_client_state(&avi) != AVI_CONNECTED) return;
  if (!subscribed) subscribed = avi_client_subscribe(&avi, "home/lights") > 0; // renewed by itself
  if (millis() - lastReport >= 10000) {
    lastReport = millis();
    avi_client_sensor(&avi, "chip", AVI_SENSOR_TEMPERATURE, temperatureRead(), NULL, 0);
  }
  int button = digitalRead(BUTTON_PIN);
  if (button == LOW && lastButton == HIGH) avi_client_button(&avi, 1, AVI_PRESS_SINGLE, NULL, 0);
  lastButton = button;
}
