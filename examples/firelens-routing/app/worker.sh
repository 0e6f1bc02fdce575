#!/bin/sh
# What a Shoryuken worker prints: polling chatter, job logs, and a failed
# job's backtrace through Ruby's Logger.
echo '2026-12-01T00:00:00.000Z pid=1 tid=a1 DEBUG: Polling for messages'
echo '{"job":"ChargeCustomerJob","queue":"billing","jid":"j-1","status":"started"}'
echo '[Aws::SQS::Client 200 0.012 0 retries] ReceiveMessage(queue_url:"https://sqs.us-east-1.amazonaws.com/000000000000/billing",max_number_of_messages:10)'
echo 'E, [2026-12-01T00:00:01.000000 #1] ERROR -- : ChargeCustomerJob failed: card declined (Stripe::CardError)'
echo "/app/app/jobs/charge_customer_job.rb:12:in 'ChargeCustomerJob#perform'"
echo "/app/vendor/bundle/ruby/3.3.0/gems/shoryuken-6.2.1/lib/shoryuken/processor.rb:21:in 'Shoryuken::Processor#process'"
echo '{"job":"SendReceiptJob","queue":"mailers","jid":"j-2","status":"done","duration":0.3}'
