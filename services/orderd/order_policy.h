#ifndef GREENLIGHT_ORDER_POLICY_H
#define GREENLIGHT_ORDER_POLICY_H
typedef struct order_policy order_policy_t;
#endif
