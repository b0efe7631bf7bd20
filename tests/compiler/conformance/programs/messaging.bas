REM Messages to other people and channels go through the messaging services.
TALK "Who should we notify?"
HEAR mobile AS MOBILE
TALK TO mobile, "Your order has shipped."
SEND SMS TO mobile, "Order shipped"
SEND MAIL "ana@example.com", "Order shipped", "Your order is on its way."
SEND EMAIL "ops@example.com", "Report", "All orders sent."
SEND FILE "invoice.pdf", "Your invoice"
SEND FILE "terms.pdf"
SEND FILE TO mobile, "invoice.pdf", "Invoice"
SEND TEMPLATE TO mobile, "newsletter.docx"
TALK "Everyone was notified."
