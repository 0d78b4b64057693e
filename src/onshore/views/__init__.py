"""Views: the HTML/PDF report and the charts. They render what the analyses computed."""
