/* Stand-in for the Arduino-ESP32 WiFi library (declarations only). */
#ifndef AVI_STUB_WIFI_H
#define AVI_STUB_WIFI_H
#define WL_CONNECTED 3
struct StubWiFi {
  int begin(const char *ssid, const char *pass);
  int status(void);
};
extern StubWiFi WiFi;
#endif
