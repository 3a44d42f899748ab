// The payment page, in the order the contract requires (works on Stripe and on localstripe):
// (1) confirmCardSetup on a SetupIntent for a new card; (2) the server attaches and charges it;
// (3) confirmCardPayment only when the charge needs authentication (3-D Secure).
(() => {
  const form = document.querySelector("[data-pay]");
  if (!form) return;
  const result = form.querySelector("[data-testid=payment-result]");
  const submit = form.querySelector("[data-testid=submit-payment]");
  const { stripe, card, post: send } = window.cardForm(form);
  const post = (url, body) => send(url, body, "Something went wrong. Nothing was charged.");
  const say = (text, ok) => { result.textContent = text; result.className = "payment-result " + (ok ? "ok" : "bad"); };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    say("Processing…", true);
    try {
      const method = form.querySelector("input[name=method]:checked")?.value ?? "new";
      const body = { request_id: form.dataset.requestId, invoice_ids: form.dataset.invoiceIds.split(",") };
      if (method === "new") {
        const setup = await post("/portal/payments/setup-intent");
        const confirmed = await stripe.confirmCardSetup(setup.client_secret, { payment_method: { card } });
        if (confirmed.error) throw new Error(confirmed.error.message);
        body.setup_intent_id = setup.setup_intent_id;
        body.keep_card = Boolean(form.querySelector("[name=keep_card]:checked, input[type=hidden][name=keep_card]"));
      } else {
        body.payment_method_id = method;
      }
      let payment = await post("/portal/payments", body);
      if (payment.status === "requires_action") {
        const authenticated = await stripe.confirmCardPayment(payment.client_secret, { payment_method: payment.payment_method_id });
        payment = await post(`/portal/payments/${payment.payment_id}/complete`);
        if (authenticated.error && payment.status !== "succeeded") throw new Error(authenticated.error.message);
      }
      if (payment.status === "succeeded" || payment.status === "processing") {
        say(payment.status === "succeeded" ? "Payment received. Thank you!" : "Payment processing.", true);
        window.location.assign(`/portal/payments/${payment.payment_id}`);
        return;
      }
      throw new Error(payment.message || "Your card was declined. Try again or use another card.");
    } catch (error) {
      say(error.message, false);
      submit.disabled = false;
    }
  });
})();
