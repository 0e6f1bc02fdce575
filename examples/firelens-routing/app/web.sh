#!/bin/sh
# What `rails server` with lograge prints, request by request.
echo '{"method":"GET","path":"/orders","format":"html","controller":"OrdersController","action":"index","status":200,"duration":12.5,"view":7.1,"db":3.2,"request_id":"req-1"}'
echo '{"method":"GET","path":"/health","format":"*/*","controller":"HealthController","action":"show","status":200,"duration":0.4,"user_agent":"ELB-HealthChecker/2.0"}'
echo '{"method":"POST","path":"/orders","format":"json","controller":"OrdersController","action":"create","status":201,"duration":48.2,"view":0.5,"db":21.7,"request_id":"req-2"}'
sleep 2
echo '{"method":"GET","path":"/orders/42","format":"html","controller":"OrdersController","action":"show","status":404,"duration":3.3,"request_id":"req-3"}'
